"""The acme provider's rollout driver (mlform's rollout protocol, driven mode).

* ``stage`` adds the new version to the endpoint's object in the cloud file at
  weight 0 (first undoing a split an interrupted apply left) and returns a
  ``GateTarget`` on the gateway, with the ``X-Acme-Region`` header a staged
  version asks of its callers;
* ``set_weights`` writes the split into the cloud file (the control plane);
* ``verify_weights`` asks the gateway how it routes now (the data plane);
* ``observe`` reads the gateway's figures for the version over the window;
* ``finish`` / ``abort`` keep one version with all the traffic and remove the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from mlform.engine.providers.protocol import v2_model_name
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, ObserveRequest, ObserveResult, RolloutCapabilities,
    RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult, VerifyWeightsRequest,
    VerifyWeightsResult,
)

from mlform_provider_acme.provider import version_of

if TYPE_CHECKING:
    from mlform_provider_acme.provider import AcmeProvider


class AcmeRollout(RolloutDriver):
    def __init__(self, provider: "AcmeProvider") -> None:
        self.provider = provider

    @property
    def capabilities(self) -> RolloutCapabilities:
        return RolloutCapabilities(mode="driven", can_observe=True, verify_seconds=2.0)

    def _ask(self, address: str, what: str, **params: Any) -> tuple[dict[str, Any] | None, str]:
        """GET the gateway's ``/acme/v1/endpoints/NAME/WHAT``: (body, "") or (None, why not)."""
        url = f"{self.provider.gateway}/acme/v1/endpoints/{v2_model_name(address)}/{what}"
        try:
            r = httpx.get(url, params=params, timeout=5.0)
        except httpx.HTTPError as e:
            return None, f"the Acme gateway at {self.provider.gateway} did not answer: {e}"
        if r.status_code != 200:
            return None, f"GET {url} answered {r.status_code}: {r.text[:200]}"
        return r.json(), ""

    def stage(self, req: StageRequest) -> StageResult:
        name = v2_model_name(req.address)
        model = req.planned_state.get("model") or {}
        new = version_of(model)

        def add(objs: dict[str, dict[str, Any]]) -> tuple[str, Interrupted | None] | None:
            obj = objs.get(name)
            if obj is None:
                return None
            undone = None
            weights = {str(k): int(v) for k, v in obj["weights"].items()}
            serving = max(weights, key=lambda v: weights[v])
            if len(obj["versions"]) > 1:  # an earlier apply stopped half-way: all traffic back on the serving one
                serving = version_of(req.prior_state.get("model"))
                left = next((v for v in obj["versions"] if v != serving), "")
                undone = Interrupted(left, float(weights.get(left, 0)), serving)
                obj["versions"] = {serving: obj["versions"][serving]}
                obj["weights"] = {serving: 100}
            obj["versions"][new] = {"path": model.get("path"), "digest": model.get("digest")}
            obj["weights"][new] = 0
            return serving, undone

        got = self.provider.cloud.change(add)
        if got is None:
            res = StageResult(version_id=None)
            res.diagnostics.error(f"Acme endpoint {name} does not exist",
                                  "It is in state but not in the Acme cloud; run `mlform refresh`, then apply.")
            return res
        serving, undone = got
        region = str(req.planned_state.get("region"))
        target = GateTarget(self.provider.gateway, name, new, {"X-Acme-Region": region})
        return StageResult(new, serving, target, undone)

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        name = v2_model_name(req.address)

        def put(objs: dict[str, dict[str, Any]]) -> bool:
            if name not in objs:
                return False
            objs[name]["weights"] = dict(req.weights)
            return True

        res = SetWeightsResult()
        if not self.provider.cloud.change(put):
            res.diagnostics.error(f"Acme endpoint {name} does not exist", "It vanished during the rollout.")
        return res

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        body, why = self._ask(req.address, "routing")
        if body is None:
            res = VerifyWeightsResult(False)
            res.diagnostics.error("Cannot verify the traffic split", why)
            return res
        actual = {str(k): float(v) for k, v in body["weights"].items()}
        return VerifyWeightsResult(all(actual.get(k, 0.0) == v for k, v in req.weights.items()), actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        body, why = self._ask(req.address, "stats", version=req.version_id, window=req.window_seconds)
        if body is None:
            res = ObserveResult(0, 0, 0.0)
            res.diagnostics.error("Cannot observe the new version", why)
            return res
        return ObserveResult(int(body["request_count"]), int(body["error_count"]), float(body["error_rate"]),
                             body["p50_ms"], body["p95_ms"], body["p99_ms"])

    def _keep(self, req: FinishRequest) -> FinishResult:
        name = v2_model_name(req.address)
        state = {**req.state, "traffic": {req.keep: 100}}

        def keep(objs: dict[str, dict[str, Any]]) -> None:
            obj = objs.get(name)
            if obj is not None:
                obj["versions"] = {k: v for k, v in obj["versions"].items() if k == req.keep}
                obj["weights"] = {req.keep: 100}
                obj["attributes"] = state

        self.provider.cloud.change(keep)
        return FinishResult(state, {**req.private, "version": req.keep})

    def finish(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)
