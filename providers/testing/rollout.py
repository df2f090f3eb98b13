"""The testing provider's rollout driver: every call of the rollout protocol, hookable.

Hooks live in ``TestProvider.hooks`` under ``rollout.<call>`` (``rollout.capabilities``,
``rollout.stage``, ``rollout.set_weights``, ``rollout.verify_weights``,
``rollout.observe``, ``rollout.finish``, ``rollout.abort``, ``rollout.run_native``)
and are called as ``hook(req, default)``; ``rollout.capabilities`` gets ``None``
for ``req``. By default the driver is ``driven``, carries out every strategy and
observes no traffic (0 requests); the traffic split it was last told is kept
with the object in ``.mlform/testing-objects.json`` (``"rollout"``), where a
test can read it.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Callable

from mlform.engine.providers.protocol import v2_model_name
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, NativeRolloutRequest, NativeRolloutResult, ObserveRequest, ObserveResult,
    RolloutCapabilities, RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest, StageResult,
    VerifyWeightsRequest, VerifyWeightsResult,
)

if TYPE_CHECKING:
    from mlform.providers.testing import TestProvider


def served_version(state: dict[str, Any]) -> str:
    """A version id for what ``state`` serves: its model's digest (or the model itself), hashed."""
    model = state.get("model")
    what = model.get("digest") if isinstance(model, dict) and model.get("digest") else model
    return "v-" + hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:10]


class TestRollout(RolloutDriver):
    """Rollouts of the testing provider's endpoint records."""

    __test__ = False  # not a pytest class

    def __init__(self, provider: "TestProvider") -> None:
        self.provider = provider

    def _hooked(self, name: str, req: Any, default: Callable[[Any], Any]) -> Any:
        return self.provider._hooked(f"rollout.{name}", req, default)

    def _remember(self, state: dict[str, Any], **rollout: Any) -> None:
        with self.provider._lock:
            objs = self.provider.objects()
            obj = objs.get(str(state.get("id", "")))
            if obj is not None:
                obj["rollout"] = {**obj.get("rollout", {}), **rollout}
                self.provider._save(objs)

    @property
    def capabilities(self) -> RolloutCapabilities:
        return self._hooked("capabilities", None,  # type: ignore[no-any-return]
                            lambda _r: RolloutCapabilities(mode="driven", can_observe=True))

    def stage(self, req: StageRequest) -> StageResult:
        return self._hooked("stage", req, self._stage)  # type: ignore[no-any-return]

    def _stage(self, req: StageRequest) -> StageResult:
        new, old = served_version(req.planned_state), served_version(req.prior_state)
        self._remember(req.prior_state, staged=new, serving=old, weights={old: 100, new: 0})
        url = str(req.prior_state.get("url") or "http://127.0.0.1:0")
        return StageResult(new, old, GateTarget(url, v2_model_name(req.address), new))

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        return self._hooked("set_weights", req, self._set_weights)  # type: ignore[no-any-return]

    def _set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        self._remember(req.state, weights=dict(req.weights))
        return SetWeightsResult()

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        return self._hooked("verify_weights", req, self._verify)  # type: ignore[no-any-return]

    def _verify(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        obj = self.provider.objects().get(str(req.state.get("id", ""))) or {}
        actual = {k: float(v) for k, v in (obj.get("rollout", {}).get("weights") or {}).items()}
        return VerifyWeightsResult(verified=all(actual.get(k) == v for k, v in req.weights.items()), actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        return self._hooked("observe", req, lambda _r: ObserveResult(0, 0, 0.0))  # type: ignore[no-any-return]

    def run_native(self, req: NativeRolloutRequest) -> NativeRolloutResult:
        return self._hooked("run_native", req, lambda r: NativeRolloutResult(  # type: ignore[no-any-return]
            "completed", steps=[{"percent": p, "native": True} for p in r.steps]))

    def finish(self, req: FinishRequest) -> FinishResult:
        return self._hooked("finish", req, self._finish)  # type: ignore[no-any-return]

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._hooked("abort", req, self._finish)  # type: ignore[no-any-return]

    def _finish(self, req: FinishRequest) -> FinishResult:
        state = {**req.state, "traffic": {req.keep: 100}}
        with self.provider._lock:
            objs = self.provider.objects()
            obj = objs.get(str(state.get("id", "")))
            if obj is not None:
                obj["attributes"] = state
                obj["rollout"] = {**obj.get("rollout", {}), "weights": {req.keep: 100}, "kept": req.keep}
                self.provider._save(objs)
        return FinishResult(state, {**req.private, "version": req.keep})
