"""The local provider's rollouts (engine/providers/rollout.py): versions side by side
in one server, behind its weighted router.

A new version is loaded beside the serving one at 0% (``stage``), the engine
moves the router's weights step by step (``set_weights``, checked with
``verify_weights`` against the server's own view), reads the new version's
figures from the server's stats (``observe``), and either unloads the old
version (``finish``) or sends all traffic back and unloads the new one
(``abort``). Which version serves is kept in the provider's private state
(``active_version``), which the engine hands back untouched.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.protocol import ProgressEvent
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, ObserveRequest, ObserveResult, RolloutCapabilities,
    RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult, VerifyWeightsRequest,
    VerifyWeightsResult,
)
from mlform.providers.local import process as P
from mlform.providers.local.restarts import restarts_of, wait_back
from mlform.providers.server.config import ConfigError, VersionSpec
from mlform.providers.local.versions import handle, server_name, served_prompt, state_version

CAPABILITIES = RolloutCapabilities(mode="driven", can_observe=True)


def active_version(private: dict[str, Any]) -> str:
    """The version that has all the traffic once no rollout is running (from private state)."""
    return str(private.get("active_version") or "")


def undo_interrupted(url: str, token: str, inf: dict[str, Any], active: str, progress: Any) -> Interrupted | None:
    """All traffic back on ``active`` and every other version unloaded; says what it undid."""
    others = {v["id"] for v in inf.get("versions", [])} - {active}
    if not others:
        return None
    weights = {k: float(v) for k, v in (inf.get("weights") or {}).items()}
    left = max(others, key=lambda v: weights.get(v, 0.0))
    undone = Interrupted(left, round(weights.get(left, 0.0), 1), active)
    progress(ProgressEvent(f"rollout of {left} was interrupted at {undone.percent:g}%; "
                           f"rolling back to {active}", phase="rollback", percent=0.0))
    P.set_traffic(url, token, {active: 100})
    for other in sorted(others):
        P.remove_version(url, token, other)
    return undone


class LocalRollout(RolloutDriver):
    """Rollouts on one endpoint's local server."""

    def __init__(self) -> None:
        self._staged_at: dict[str, int] = {}  # address -> its server's restart count when staged

    @property
    def capabilities(self) -> RolloutCapabilities:
        return CAPABILITIES

    def stage(self, req: StageRequest) -> StageResult:
        url, token = handle(req.private)
        active = active_version(req.private)
        model = req.planned_state.get("model") or {}
        vid = state_version(req.planned_state)
        resp = StageResult(version_id=vid, serving_version_id=active)
        crash = restarts_of(req.private)
        self._staged_at[req.address] = crash.count if crash is not None else 0
        try:
            inf = P.info(url, token)
            if active not in {v["id"] for v in inf.get("versions", [])}:
                resp.version_id = None
                resp.diagnostics.error(
                    f"The server of {req.address} no longer serves {active or 'its recorded version'}",
                    "It was changed outside mlform. Run `mlform apply --replace " + req.address + "` to start "
                    "it again from the configuration.")
                return resp
            # A rollout left half-way by an interrupted apply is rolled back first: the
            # last fully promoted version (the one state records) is the safe place to resume from.
            resp.interrupted = undo_interrupted(url, token, inf, active, req.progress)
            req.progress(ProgressEvent(f"loading {vid} beside {active}", phase="start"))
            P.load_version(url, token, vid, model["path"], model.get("format") or "onnx", model.get("digest"),
                           prompt=served_prompt(req.planned_state))
        except (P.AdminError, KeyError) as e:
            resp.version_id = None
            resp.diagnostics.error(f"Could not stage the new model version on {req.address}", str(e))
            return resp
        resp.target = GateTarget(base_url=url, model_name=str(inf.get("name") or server_name(req.address)),
                                 version=vid)
        return resp

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        url, token = handle(req.private)
        resp = SetWeightsResult()
        try:
            P.set_traffic(url, token, {k: float(v) for k, v in req.weights.items()})
        except P.AdminError as e:
            resp.diagnostics.error(f"Could not shift traffic on {req.address}", str(e))
        return resp

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        url, token = handle(req.private)
        try:
            actual = {str(k): float(v) for k, v in (P.info(url, token).get("weights") or {}).items()}
        except P.AdminError as e:
            resp = VerifyWeightsResult(verified=False)
            resp.diagnostics.error(f"Could not read the traffic split of {req.address}", str(e))
            return resp
        ok = all(abs(actual.get(v, 0.0) - w) <= 0.5 for v, w in req.weights.items())
        return VerifyWeightsResult(verified=ok, actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        url, token = handle(req.private)
        try:
            s = P.stats(url, token, req.window_seconds, req.version_id)
        except P.AdminError as e:
            # An error, which the controller treats as a breach and rolls back on: a server that
            # died (its supervisor restarts it with the last fully promoted version only) cannot
            # show the new version is fine.
            r = ObserveResult(0, 0, 0.0)
            crash = restarts_of(req.private)
            if crash is not None and (crash.state != "running" or crash.count > self._staged_at.get(req.address, 0)):
                r.diagnostics.error(f"The server of {req.address} crashed during the bake",
                                    f"It {crash.note}; {req.version_id} is no longer loaded ({e}).")
            else:
                r.diagnostics.error(f"Could not observe {req.address}", str(e))
            return r
        return ObserveResult(request_count=s.request_count, error_count=s.error_count, error_rate=s.error_rate,
                             p50_ms=s.p50_ms, p95_ms=s.p95_ms, p99_ms=s.p99_ms)

    def finish(self, req: FinishRequest) -> FinishResult:
        resp = self._keep_only(req, {**req.private, "active_version": req.keep})
        model = req.state.get("model") or {}
        if resp.new_state is not None and req.private.get("config_path") and model.get("path"):
            # What a restarted server serves (its config file): the version just promoted.
            try:
                P.record_versions(req.private["config_path"], [VersionSpec(
                    req.keep, model["path"], model.get("format") or "onnx", model.get("digest"),
                    served_prompt(req.state))], {req.keep: 100.0})
            except (OSError, ConfigError) as e:
                resp.diagnostics.warning(f"Could not record the promoted version of {req.address} in its "
                                         "server's config", f"{e}. If the server crashes, its supervisor "
                                         "restarts it with the previous version.")
        return resp

    def abort(self, req: FinishRequest) -> FinishResult:
        wait_back(req.private)  # a server that crashed in the bake: rolled back once restarted
        return self._keep_only(req, dict(req.private))

    def _keep_only(self, req: FinishRequest, private: dict[str, Any]) -> FinishResult:
        """All traffic on ``keep``, ``remove`` unloaded; the state and private data to record."""
        url, token = handle(req.private)
        resp = FinishResult(new_state=None)
        try:
            P.set_traffic(url, token, {req.keep: 100})
            if req.remove and req.remove != req.keep:
                try:
                    P.remove_version(url, token, req.remove)
                except P.AdminError as e:
                    if e.status != 404:  # 404: not loaded (a restarted server never had it)
                        raise
            inf = P.info(url, token)
        except P.AdminError as e:
            resp.diagnostics.error(f"Could not finish the rollout on {req.address}", str(e))
            return resp
        state = dict(req.state)
        digests = inf.get("digests", {})
        state.update(traffic={req.keep: 100}, url=url, device=inf.get("device") or state.get("device"),
                     active_model_digest=digests.get(req.keep, state.get("active_model_digest")))
        resp.new_state, resp.private = state, private
        return resp

