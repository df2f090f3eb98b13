"""Rollouts on Vertex AI, driven by mlform (Vertex itself has no progressive rollout).

``stage`` deploys the new version beside the serving one at 0% of the
traffic split; the gates reach the new deployed model itself through the
dedicated endpoint's ``deployedModels/{id}/invoke`` route, before it takes any
user traffic. Each step is an ``UpdateEndpoint`` of the traffic split with
the endpoint's etag (``Api.set_split``). ``observe`` judges mlform's own probe
requests to the new deployed model (the aiplatform API reports no request
figures per deployed model). ``finish`` undeploys the old version, ``abort``
puts all traffic back on it and undeploys the new one. A rollout an earlier
apply left half-way (two deployed models) is rolled back by ``stage`` first.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from mlform.engine.providers.protocol import ProgressEvent, v2_model_name
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, ObserveRequest, ObserveResult, RolloutCapabilities,
    RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult, VerifyWeightsRequest,
    VerifyWeightsResult,
)
from mlform.providers.vertex.client import Api, VertexError
from mlform.providers.vertex.state import deploy_version, keep_only, vid_of_state

CAPABILITIES = RolloutCapabilities(mode="driven", can_observe=True)
PROBES_PER_OBSERVE = 5


def probe_body(metadata: dict[str, Any]) -> dict[str, Any]:
    """A V2 request of zeros shaped like the model's inputs (one row), from its V2 metadata."""
    inputs = []
    for i in metadata.get("inputs") or []:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in i.get("shape") or [1]]
        n = 1
        for d in shape:
            n *= d
        inputs.append({"name": i.get("name"), "shape": shape, "datatype": i.get("datatype") or "FP32",
                       "data": [0] * n})
    return {"inputs": inputs}


class VertexRollout(RolloutDriver):
    def __init__(self, api: Api) -> None:
        self.api = api
        self._samples: dict[tuple[str, str], list[tuple[float, float, bool]]] = {}  # (address, vid) -> (t, ms, ok)
        self._bodies: dict[tuple[str, str], dict[str, Any]] = {}  # (address, vid) -> probe request
        self._ops: dict[str, str] = {}  # address -> the apply's operation id (the endpoint's mlform-operation label)
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=30, trust_env=False)

    @property
    def capabilities(self) -> RolloutCapabilities:
        return CAPABILITIES

    def _ep(self, state: dict[str, Any]) -> Any:
        ep = self.api.get_endpoint(str(state.get("endpoint_name")))
        if ep is None:
            raise VertexError(f"Endpoint {state.get('endpoint_name')} no longer exists",
                              "It was deleted outside mlform. Run `mlform apply` to create it again.")
        return ep

    def _ids(self, ep: Any) -> dict[str, str]:
        return {d.display_name: d.id for d in ep.deployed_models}

    def stage(self, req: StageRequest) -> StageResult:
        prior, planned = req.prior_state, req.planned_state
        vid = vid_of_state(planned)
        resp = StageResult(version_id=None)
        self._ops[req.address] = req.operation_id
        try:
            ep = self._ep(prior)
            serving = next((d for d in ep.deployed_models if d.id == prior.get("deployed_model_id")), None)
            if serving is None:
                raise VertexError(f"The deployed model of {req.address} is gone",
                                  "It was undeployed outside mlform. Run `mlform apply` again: with no model "
                                  "serving, the configured one is deployed at once.")
            resp.serving_version_id = serving.display_name
            others = [d for d in ep.deployed_models if d.id != serving.id]
            if others:
                left = max(others, key=lambda d: ep.traffic_split.get(d.id, 0))
                pct = float(ep.traffic_split.get(left.id, 0))
                req.progress(ProgressEvent(f"rollout of {left.display_name} was interrupted at {pct:g}%; rolling "
                                           f"back to {serving.display_name}", phase="rollback", percent=0.0))
                keep_only(self.api, req.address, ep.name, prior, serving.display_name, req.operation_id,
                          req.progress)
                resp.interrupted = Interrupted(left.display_name, pct, serving.display_name)
            req.progress(ProgressEvent(f"deploying {vid} beside {serving.display_name} at 0%", phase="start"))
            dm = deploy_version(self.api, req.address, ep.name, planned, {serving.id: 100, "0": 0}, req.progress)
            ep = self._ep(prior)
            resp.version_id = vid
            resp.target = GateTarget(base_url=self.api.invoke_url(ep, dm.id), model_name=v2_model_name(req.address),
                                     version=vid, headers=self.api.auth_headers())
        except VertexError as e:
            resp.version_id = None
            e.add_to(resp.diagnostics)
        return resp

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        resp = SetWeightsResult()
        try:
            ep = self._ep(req.state)
            ids = self._ids(ep)
            missing = [v for v in req.weights if v not in ids]
            if missing:
                raise VertexError(f"Version {missing[0]} is no longer deployed on {ep.name}",
                                  "It was undeployed outside mlform during the rollout.")
            self.api.set_split(ep.name, {ids[v]: int(w) for v, w in req.weights.items()},
                               self._ops.get(req.address, "mlform"))
        except VertexError as e:
            e.add_to(resp.diagnostics)
        return resp

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        try:
            ep = self._ep(req.state)
        except VertexError as e:
            out = VerifyWeightsResult(verified=False)
            e.add_to(out.diagnostics)
            return out
        actual = {d.display_name: float(ep.traffic_split.get(d.id, 0)) for d in ep.deployed_models}
        return VerifyWeightsResult(verified=all(actual.get(v) == float(w) for v, w in req.weights.items()),
                                   actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        """Probe the new deployed model a few times; the figures of the window's probes."""
        try:
            ep = self._ep(req.state)
        except VertexError as e:
            out = ObserveResult(0, 0, 0.0)
            e.add_to(out.diagnostics)
            return out
        ids = self._ids(ep)
        key = (req.address, req.version_id)
        if req.version_id not in ids:
            out = ObserveResult(0, 0, 0.0)
            out.diagnostics.error(f"{req.version_id} is no longer deployed on {ep.name}",
                                  "It was undeployed during the bake.")
            return out
        url = (f"{self.api.invoke_url(ep, ids[req.version_id])}/v2/models/{v2_model_name(req.address)}"
               f"/versions/{req.version_id}")
        headers = self.api.auth_headers()
        if key not in self._bodies:  # the model's own metadata says what a request looks like
            try:
                self._bodies[key] = probe_body(self._http.get(url, headers=headers).json())
            except (httpx.HTTPError, ValueError):
                self._bodies[key] = {"inputs": []}
        body, url = self._bodies[key], url + "/infer"
        got = []
        for _ in range(PROBES_PER_OBSERVE):
            t0 = time.perf_counter()
            try:
                ok = self._http.post(url, json=body, headers=headers).status_code < 500
            except httpx.HTTPError:
                ok = False
            got.append((time.monotonic(), (time.perf_counter() - t0) * 1000, ok))
        with self._lock:
            samples = self._samples.setdefault(key, [])
            samples.extend(got)
            since = time.monotonic() - req.window_seconds
            window = [s for s in samples if s[0] >= since]
        lat = sorted(s[1] for s in window)
        errors = sum(1 for s in window if not s[2])

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None
        return ObserveResult(request_count=len(window), error_count=errors,
                             error_rate=errors / len(window) if window else 0.0,
                             p50_ms=pct(0.5), p95_ms=pct(0.95), p99_ms=pct(0.99))

    def finish(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def _keep(self, req: FinishRequest) -> FinishResult:
        resp = FinishResult(new_state=None)
        try:
            resp.new_state = keep_only(self.api, req.address, str(req.state.get("endpoint_name")), req.state, req.keep,
                                       self._ops.get(req.address, "mlform"), req.progress)
        except VertexError as e:
            e.add_to(resp.diagnostics)
        return resp
