"""The rollout protocol (docs/providers.md, "Rollout protocol").

Separate from the CRUD protocol (``protocol.py``): a provider whose endpoints
can move traffic between versions returns a :class:`RolloutDriver` from
:meth:`~mlform.engine.providers.protocol.ProviderBase.rollouts`. The engine's
rollout controller (``engine/rollout/controller.py``) talks to it only through
the typed requests and results below, as Argo Rollouts talks to its small
``TrafficRouter`` and ``MetricProvider`` plugins:

1. :meth:`RolloutDriver.stage` the new version beside the serving one, at 0%;
   it says which version serves now and how the gates reach the staged one
   (a :class:`GateTarget`);
2. the engine runs the gates against that target;
3. ``driven`` mode: for each step, :meth:`~RolloutDriver.set_weights`, then
   :meth:`~RolloutDriver.verify_weights` (the platform really routes so), then
   a bake that polls :meth:`~RolloutDriver.observe` (when the driver can
   observe); ``native`` mode: :meth:`~RolloutDriver.run_native` hands the whole
   plan to the platform (SageMaker's deployment guardrails, say);
4. :meth:`~RolloutDriver.finish` (promote) or :meth:`~RolloutDriver.abort`
   (roll back).

``private`` is the provider's own data from state: the engine passes it back
untouched and records the ``private`` a result returns, never reading it.
What a driver declares in :class:`RolloutCapabilities` is checked at plan
time against each rollout block, so a configuration that asks for more than
the provider does fails at ``mlform plan``, at the block.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.rollout.strategy import STRATEGIES

Mode = Literal["driven", "native"]


def _no_progress(message: str, *, fraction: float | None = None) -> None:
    return None


@dataclass(frozen=True)
class RolloutCapabilities:
    """What a provider's rollouts can do.

    ``mode``: ``driven`` (the engine takes each step through ``set_weights``)
    or ``native`` (the platform runs the steps itself, through ``run_native``).
    ``strategies``: the rollout strategies it carries out; one that splits
    traffic (``canary``, ``linear``) needs weights other than 0 and 100.
    ``can_observe``: it reports a version's live figures, so ``rollback_when``
    can be judged during bakes. ``verify_seconds``: how long the engine waits
    for :meth:`RolloutDriver.verify_weights` to confirm a split (0: one check).
    """

    mode: Mode = "driven"
    strategies: tuple[str, ...] = STRATEGIES
    can_observe: bool = False
    verify_seconds: float = 0.0

    @property
    def can_split(self) -> bool:
        """Whether traffic can be shared between two versions (canary and linear steps)."""
        return any(s in self.strategies for s in ("canary", "linear"))


@dataclass(frozen=True)
class GateTarget:
    """Where the gates reach the staged version with the eval library's V2 clients:
    ``POST {base_url}/v2/models/{model_name}[/versions/{version}]/infer``, with ``headers``."""

    base_url: str
    model_name: str
    version: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Interrupted:
    """What an earlier, interrupted rollout had left on the endpoint, now undone.

    ``version`` is the half-rolled-out version, ``percent`` the traffic it
    had, ``restored`` the version that has all the traffic again.
    """

    version: str
    percent: float
    restored: str


# --- stage ---------------------------------------------------------------------------

@dataclass
class StageRequest:
    """Start ``planned_state``'s version beside the serving one, at 0% traffic."""

    address: str
    prior_state: dict[str, Any]
    planned_state: dict[str, Any]
    config: dict[str, Any]
    operation_id: str
    progress: Callable[..., None] = _no_progress
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageResult:
    """``version_id`` is ``None`` when nothing was staged (the diagnostics say why).

    ``serving_version_id``: the version that has the traffic now (the rollout's
    "old" version). ``interrupted`` is set when staging first had to undo a
    rollout an earlier apply left half-way.
    """

    version_id: str | None
    serving_version_id: str = ""
    target: GateTarget | None = None
    interrupted: Interrupted | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- traffic -------------------------------------------------------------------------

@dataclass
class SetWeightsRequest:
    address: str
    state: dict[str, Any]
    weights: dict[str, int]  # version id -> percent, summing to 100
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class SetWeightsResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class VerifyWeightsRequest:
    """Does the platform route as ``weights`` says (a load balancer can lag the call)?"""

    address: str
    state: dict[str, Any]
    weights: dict[str, int]
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyWeightsResult:
    """``verified``: traffic is split as asked; ``actual`` is the split the platform reports."""

    verified: bool
    actual: dict[str, float] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- observe -------------------------------------------------------------------------

@dataclass
class ObserveRequest:
    """The figures of ``version_id`` over the last ``window_seconds``."""

    address: str
    state: dict[str, Any]
    version_id: str
    window_seconds: float
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObserveResult:
    """One window: requests, server errors, latency percentiles (``None``: no request)."""

    request_count: int
    error_count: int
    error_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- finish / abort ------------------------------------------------------------------

@dataclass
class FinishRequest:
    """Make ``keep`` the only version and return the state to record.

    :meth:`RolloutDriver.finish` promotes (``keep`` is the staged version,
    ``state`` the planned one); :meth:`RolloutDriver.abort` rolls back
    (``keep`` is the serving version, ``state`` the prior one).
    """

    address: str
    state: dict[str, Any]
    keep: str
    remove: str
    progress: Callable[..., None] = _no_progress
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinishResult:
    """``new_state`` and ``private`` are what state records (``None``: keep the prior)."""

    new_state: dict[str, Any] | None
    private: dict[str, Any] | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- native --------------------------------------------------------------------------

@dataclass
class NativeRolloutRequest:
    """The whole rollout, for a platform that runs its steps itself."""

    address: str
    state: dict[str, Any]
    planned_state: dict[str, Any]
    version_id: str
    serving_version_id: str
    strategy: str
    steps: tuple[int, ...]
    bake_seconds: float
    rollback_when: dict[str, Any]
    progress: Callable[..., None] = _no_progress
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class NativeRolloutResult:
    """``rolled_back`` with ``reason`` when the platform undid it; ``steps`` as history records them."""

    outcome: Literal["completed", "rolled_back"]
    reason: str = ""
    steps: list[dict[str, Any]] = field(default_factory=list)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


class RolloutDriver(ABC):
    """One provider's rollouts. ``stage``, ``finish`` and ``abort`` are required;
    the others are called only when :attr:`capabilities` says so, and a driver
    that declares a capability must implement its call (checked at plan)."""

    @property
    @abstractmethod
    def capabilities(self) -> RolloutCapabilities: ...

    @abstractmethod
    def stage(self, req: StageRequest) -> StageResult: ...

    @abstractmethod
    def finish(self, req: FinishRequest) -> FinishResult: ...

    @abstractmethod
    def abort(self, req: FinishRequest) -> FinishResult: ...

    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:  # driven mode
        raise NotImplementedError

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:  # driven mode
        raise NotImplementedError

    def observe(self, req: ObserveRequest) -> ObserveResult:  # can_observe
        raise NotImplementedError

    def run_native(self, req: NativeRolloutRequest) -> NativeRolloutResult:  # native mode
        raise NotImplementedError


def missing_calls(driver: RolloutDriver) -> list[str]:
    """The calls ``driver``'s capabilities promise but its class does not implement."""
    caps = driver.capabilities
    want = ["set_weights", "verify_weights"] if caps.mode == "driven" else ["run_native"]
    if caps.can_observe:
        want.append("observe")
    return [m for m in want if getattr(type(driver), m) is getattr(RolloutDriver, m)]


__all__ = [
    "FinishRequest", "FinishResult", "GateTarget", "Interrupted", "Mode", "NativeRolloutRequest",
    "NativeRolloutResult", "ObserveRequest", "ObserveResult", "RolloutCapabilities", "RolloutDriver",
    "STRATEGIES", "SetWeightsRequest", "SetWeightsResult", "StageRequest", "StageResult",
    "VerifyWeightsRequest", "VerifyWeightsResult", "missing_calls",
]
