"""The docker provider's rollouts (engine/providers/rollout.py): the new version in
containers of its own beside the serving ones, behind the endpoint's router.

``stage`` first undoes what an interrupted rollout left (all traffic back on the
recorded version, the other version's containers drained and removed), then
starts the new version's containers and adds them to the router at 0%; the
gates reach the new version's first container directly (its published port).
``set_weights`` / ``verify_weights`` / ``observe`` go to the router's admin API,
``finish`` / ``abort`` retire the other version (drained first: no request fails).
"""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.protocol import ProgressEvent
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, ObserveRequest, ObserveResult, RolloutCapabilities,
    RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult, VerifyWeightsRequest,
    VerifyWeightsResult,
)
from mlform.providers.docker import engine as E
from mlform.providers.docker.drift import discover
from mlform.providers.docker.versions import keep_only, retire, router_handle, serve_version, state_version
from mlform.providers.server import client as C

CAPABILITIES = RolloutCapabilities(mode="driven", can_observe=True)


class DockerRollout(RolloutDriver):
    """Rollouts of one provider's endpoints; ``provider`` is the DockerProvider (client, spec_of)."""

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @property
    def capabilities(self) -> RolloutCapabilities:
        return CAPABILITIES

    def stage(self, req: StageRequest) -> StageResult:
        req.private = discover(self.provider, req.address, req.private)
        active = str(req.private.get("active_version") or "")
        vid = state_version(req.planned_state)
        resp = StageResult(version_id=vid, serving_version_id=active)
        url, token = router_handle(req.private)
        try:
            client = self.provider.client()
            spec = self.provider.spec_of(req.address, req.planned_state, req.operation_id)
            inf = C.info(url, token)
            weights = {k: float(v) for k, v in (inf.get("weights") or {}).items()}
            others = [v["id"] for v in inf.get("versions", []) if v["id"] != active]
            if others:
                left = max(others, key=lambda v: weights.get(v, 0.0))
                resp.interrupted = Interrupted(left, round(weights.get(left, 0.0), 1), active)
                req.progress(ProgressEvent(f"rollout of {left} was interrupted at {resp.interrupted.percent:g}%; "
                                           f"rolling back to {active}", phase="rollback", percent=0.0))
            keep_only(client, self.provider.spec_of(req.address, req.prior_state, req.operation_id),
                      req.private, active)
            new_vid, containers, _ = serve_version(client, spec, req.planned_state,
                                                   self.provider.config.get("base_image"), req.progress)
            C._call("POST", url, token, "/mlform/versions", json={"id": new_vid, "urls": E.backend_urls(spec, new_vid)})
        except E.StartError as e:
            resp.version_id = None
            resp.diagnostics.error(str(e), e.detail, path=(e.attr,))
            return resp
        except Exception as e:  # noqa: BLE001 - router or engine refused: the rollout cannot start
            resp.version_id = None
            resp.diagnostics.error(f"Could not stage the new model version on {req.address}",
                                   str(getattr(e, "explanation", None) or e))
            return resp
        resp.target = GateTarget(base_url=E.published_url(containers[0]), model_name=spec.name, version=new_vid)
        return resp

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        req.private = discover(self.provider, req.address, req.private)
        url, token = router_handle(req.private)
        resp = SetWeightsResult()
        try:
            C.set_traffic(url, token, {k: float(v) for k, v in req.weights.items()})
        except C.AdminError as e:
            resp.diagnostics.error(f"Could not shift traffic on {req.address}", str(e))
        return resp

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        req.private = discover(self.provider, req.address, req.private)
        url, token = router_handle(req.private)
        try:
            actual = {str(k): float(v) for k, v in (C.info(url, token).get("weights") or {}).items()}
        except C.AdminError as e:
            resp = VerifyWeightsResult(verified=False)
            resp.diagnostics.error(f"Could not read the traffic split of {req.address}", str(e))
            return resp
        return VerifyWeightsResult(verified=all(abs(actual.get(v, 0.0) - w) <= 0.5 for v, w in req.weights.items()),
                                   actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        req.private = discover(self.provider, req.address, req.private)
        url, token = router_handle(req.private)
        try:
            s = C.stats(url, token, req.window_seconds, req.version_id)
        except C.AdminError as e:
            r = ObserveResult(0, 0, 0.0)
            r.diagnostics.error(f"Could not observe {req.address}", str(e))
            return r
        return ObserveResult(request_count=s.request_count, error_count=s.error_count, error_rate=s.error_rate,
                             p50_ms=s.p50_ms, p95_ms=s.p95_ms, p99_ms=s.p99_ms)

    def finish(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def _keep(self, req: FinishRequest) -> FinishResult:
        req.private = discover(self.provider, req.address, req.private)
        resp = FinishResult(new_state=None)
        try:
            client = self.provider.client()
            spec = self.provider.spec_of(req.address, req.state, str(req.private.get("operation_id") or ""))
            names = keep_only(client, spec, req.private, req.keep)
            image_id = ""
            for c in E.find_labelled(client, address=req.address, project=spec.project, version=req.keep):
                image_id = str(c.image.id)
        except Exception as e:  # noqa: BLE001 - router or engine refused
            resp.diagnostics.error(f"Could not finish the rollout on {req.address}",
                                   str(getattr(e, "explanation", None) or e))
            return resp
        state = dict(req.state)
        state.update(traffic={req.keep: 100}, url=req.private.get("url"), containers=names, image_id=image_id,
                     active_model_digest=(state.get("model") or {}).get("digest", state.get("active_model_digest")))
        resp.new_state, resp.private = state, {**req.private, "active_version": req.keep}
        return resp


__all__ = ["DockerRollout", "retire"]
