"""What each operation of :class:`mlform.engine.core.Core` returns: its result and its diagnostics.

No result prints anything; the commands render them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlform.engine.diagnostics import Diagnostics

if TYPE_CHECKING:
    from mlform.engine.apply.applier import ApplyOutcome
    from mlform.engine.plan.context import EvalContext
    from mlform.engine.plan.model import Plan
    from mlform.engine.state.model import ResourceState


@dataclass
class ValidateResult:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)

    @property
    def ok(self) -> bool:
        return not self.diagnostics.has_errors


@dataclass
class PlanResult:
    """A plan (None when planning failed), the context it was made in, and the findings
    (the plan's warnings, then what its policies said)."""

    plan: Plan | None
    diagnostics: Diagnostics
    context: EvalContext | None = None

    @property
    def policy_blocked(self) -> bool:
        """A soft or hard mandatory policy failed and was not overridden: apply must refuse."""
        return self.plan is not None and any(
            not r.passed and not r.overridden and r.enforcement in ("soft_mandatory", "hard_mandatory")
            for r in self.plan.policy_results)


@dataclass
class ApplyResult:
    """What an apply did: ``outcome`` is None when nothing ran (a refresh-only plan, no changes)."""

    plan: Plan
    diagnostics: Diagnostics
    outcome: ApplyOutcome | None = None

    def _count(self, actions: tuple[str, ...]) -> int:
        done = set(self.outcome.applied) if self.outcome is not None else set()
        return sum(1 for c in self.plan.changes if c.address in done and c.action in actions)

    @property
    def added(self) -> int:
        return self._count(("create", "replace"))

    @property
    def changed(self) -> int:
        return self._count(("update",))

    @property
    def destroyed(self) -> int:
        return self._count(("delete", "replace"))

    @property
    def failed(self) -> bool:
        return self.diagnostics.has_errors or (self.outcome is not None and bool(self.outcome.failed))

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.outcome.state.outputs) if self.outcome is not None else {}


@dataclass
class RefreshResult:
    """A refresh: the objects that changed outside of mlform (``plan.drift``), written to state."""

    plan: Plan | None
    diagnostics: Diagnostics

    @property
    def drift(self) -> list[dict[str, Any]]:
        return list(self.plan.drift) if self.plan is not None else []


@dataclass
class ImportResult:
    """The imported object as now recorded (None when the import failed)."""

    resource: ResourceState | None
    diagnostics: Diagnostics


@dataclass
class RecoverResult:
    """What recovering an interrupted run did: ``recovered`` is whether there was anything to do.
    Errors mean a provider could not look: the pending operations stay for the next run."""

    diagnostics: Diagnostics
    recovered: bool = False


@dataclass
class SuitesResult:
    """The eval suites run now (``mlform eval``): one result per suite that ran. ``plan`` is
    the plan of their targets (None when it failed, and nothing ran)."""

    results: list[Any]
    diagnostics: Diagnostics
    failed: bool = False
    plan: Plan | None = None


__all__ = ["ApplyResult", "ImportResult", "PlanResult", "RecoverResult", "RefreshResult", "SuitesResult",
           "ValidateResult"]
