"""The ray provider's rollouts: the new version as its own Serve application beside the
serving one, the ingress's weights moved in place (``user_config``), figures from the
ingress's per-version request logs, and the losing version's application removed."""

from __future__ import annotations

from typing import Any, Callable

import httpx

from mlform.engine.providers.protocol import ProgressEvent
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, ObserveRequest, ObserveResult, RolloutCapabilities,
    RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult, VerifyWeightsRequest,
    VerifyWeightsResult,
)
from mlform.providers.ray import apps as A
from mlform.providers.ray.client import ClusterError, ServeClient

CAPABILITIES = RolloutCapabilities(mode="driven", can_observe=True, verify_seconds=10.0)


class RayRollout(RolloutDriver):
    def __init__(self, client: Callable[[], ServeClient], settings: A.Settings) -> None:
        self.client, self.settings = client, settings

    @property
    def capabilities(self) -> RolloutCapabilities:
        return CAPABILITIES

    def stage(self, req: StageRequest) -> StageResult:
        active = str(req.private.get("active_version") or "")
        name = str(req.private.get("app") or A.app_name(req.address))
        vid = A.state_version(req.planned_state)
        resp = StageResult(version_id=vid, serving_version_id=active)
        c = self.client()
        try:
            resp.interrupted = undo_interrupted(c, self.settings, name, active, req.progress)
            req.progress(ProgressEvent(f"deploying {vid} beside {active} on Ray Serve", phase="start"))
            A.deploy_version(c, self.settings, req.address, name, vid, req.planned_state, req.progress)
            A.set_ingress(c, self.settings, name, dict(A.ingress_weights(c, name)[0], **{vid: 0}),
                          {**A.ingress_apps(c, name), vid: A.version_app_name(name, vid)})
        except ClusterError as e:
            resp.version_id = None
            resp.diagnostics.error(f"Could not stage the new model version of {req.address} on Ray Serve", str(e),
                                   path=("model",))
            return resp
        resp.target = GateTarget(base_url=self.settings.proxy_url + A.version_route(name, vid),
                                 model_name=A.model_name(req.address))
        return resp

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        resp = SetWeightsResult()
        name = str(req.private.get("app") or A.app_name(req.address))
        try:
            c = self.client()
            A.set_ingress(c, self.settings, name, {k: float(v) for k, v in req.weights.items()},
                          A.ingress_apps(c, name))
        except ClusterError as e:
            resp.diagnostics.error(f"Could not shift traffic on {req.address}", str(e))
        return resp

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        name = str(req.private.get("app") or A.app_name(req.address))
        try:
            got = httpx.get(self.settings.proxy_url + f"/{name}/mlform/info", timeout=5, trust_env=False).json()
        except (httpx.HTTPError, ValueError):
            return VerifyWeightsResult(verified=False)
        actual = {str(k): float(v) for k, v in (got.get("weights") or {}).items()}
        ok = all(abs(actual.get(v, 0.0) - w) <= 0.5 for v, w in req.weights.items())
        return VerifyWeightsResult(verified=ok, actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        name = str(req.private.get("app") or A.app_name(req.address))
        try:
            r = httpx.get(self.settings.proxy_url + f"/{name}/mlform/stats", timeout=5, trust_env=False,
                          params={"version": req.version_id, "window": req.window_seconds})
            s = r.json()
            if r.status_code != 200:
                raise ValueError(s.get("error"))
        except (httpx.HTTPError, ValueError) as e:
            out = ObserveResult(0, 0, 0.0)
            out.diagnostics.error(f"Could not observe {req.address} on Ray Serve", str(e))
            return out
        return ObserveResult(int(s["request_count"]), int(s["error_count"]), float(s["error_rate"]),
                             s.get("p50_ms"), s.get("p95_ms"), s.get("p99_ms"))

    def finish(self, req: FinishRequest) -> FinishResult:
        return self._keep_only(req)

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._keep_only(req)

    def _keep_only(self, req: FinishRequest) -> FinishResult:
        name = str(req.private.get("app") or A.app_name(req.address))
        resp = FinishResult(new_state=None)
        try:
            c = self.client()
            apps = A.ingress_apps(c, name)
            A.set_ingress(c, self.settings, name, {req.keep: 100.0}, {req.keep: apps.get(
                req.keep, A.version_app_name(name, req.keep))})
            if req.remove and req.remove != req.keep:
                A.remove_apps(c, self.settings, [apps.get(req.remove, A.version_app_name(name, req.remove))])
        except ClusterError as e:
            resp.diagnostics.error(f"Could not finish the rollout on {req.address}", str(e))
            return resp
        state = dict(req.state)
        digest = (state.get("model") or {}).get("digest") or state.get("active_model_digest")
        try:
            kept = c.applications().get(apps.get(req.keep, A.version_app_name(name, req.keep))) or {}
        except ClusterError:
            kept = {}
        state.update(traffic={req.keep: 100}, active_model_digest=digest, placement=A.placement(kept))
        resp.new_state = state
        resp.private = {**req.private, "app": name, "active_version": req.keep}
        return resp


def undo_interrupted(c: ServeClient, settings: A.Settings, name: str, active: str,
                     progress: Any) -> Interrupted | None:
    """All traffic back on ``active`` and every other version's application removed."""
    weights, _cfg = A.ingress_weights(c, name)
    apps = A.ingress_apps(c, name)
    others = set(apps) - {active}
    if not others:
        return None
    left = max(others, key=lambda v: weights.get(v, 0.0))
    undone = Interrupted(left, round(weights.get(left, 0.0), 1), active)
    progress(ProgressEvent(f"rollout of {left} was interrupted at {undone.percent:g}%; rolling back to {active}",
                           phase="rollback", percent=0.0))
    A.set_ingress(c, settings, name, {active: 100.0}, {active: apps[active]} if active in apps else {})
    A.remove_apps(c, settings, [apps[o] for o in sorted(others)])
    return undone
