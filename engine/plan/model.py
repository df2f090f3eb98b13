"""A plan: the changes to make, and everything needed to carry them out exactly."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlform.engine.values import UNKNOWN, contains_unknown

Action = Literal["create", "update", "delete", "replace", "no-op", "read"]
SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+", "no-op": " ", "read": "<="}


@dataclass
class ResourceChange:
    """The planned change of one resource instance."""

    address: str
    kind: str
    name: str
    index_key: str | int | None
    provider: str  # provider key, e.g. "provider.local"
    action: Action
    before: dict[str, Any] | None
    after: dict[str, Any] | None  # may hold UNKNOWN
    replace_paths: list[list[str | int]] = field(default_factory=list)
    sensitive_paths: list[list[str | int]] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    estimates: dict[str, Any] | None = None
    rollout: dict[str, Any] | None = None
    create_before_destroy: bool = False
    reason: str | None = None  # why (e.g. "tainted", "--replace", "drift")
    config: dict[str, Any] | None = None  # evaluated configuration (for apply)
    private: dict[str, Any] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        return SYMBOL[self.action]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _enc(asdict(self))
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ResourceChange":
        return cls(**_dec(d))


@dataclass
class OutputChange:
    name: str
    action: Action
    before: Any
    after: Any
    sensitive: bool = False


@dataclass
class PolicyResult:
    policy: str
    enforcement: str
    address: str | None  # None for whole-plan policies
    passed: bool
    message: str
    overridden: bool = False
    override_reason: str | None = None  # the --reason given with --override-policy


@dataclass
class Plan:
    """Everything ``apply PLANFILE`` needs, and what ``show`` prints."""

    mode: Literal["normal", "destroy", "refresh-only"] = "normal"
    changes: list[ResourceChange] = field(default_factory=list)
    output_changes: list[OutputChange] = field(default_factory=list)
    variables: dict[str, Any] = field(default_factory=dict)
    sensitive_variables: list[str] = field(default_factory=list)
    config_digest: str = ""
    prior_lineage: str | None = None
    prior_serial: int | None = None
    prior_state: dict[str, Any] | None = None
    refreshed_state: dict[str, Any] | None = None
    policy_results: list[PolicyResult] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    drift: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)  # suites the apply will run
    mlform_version: str = "0.1.0"
    created: str = ""

    def counts(self) -> tuple[int, int, int]:
        add = sum(1 for c in self.changes if c.action in ("create", "replace"))
        change = sum(1 for c in self.changes if c.action == "update")
        destroy = sum(1 for c in self.changes if c.action in ("delete", "replace"))
        return add, change, destroy

    @property
    def has_changes(self) -> bool:
        return any(c.action != "no-op" for c in self.changes) or any(
            o.action != "no-op" for o in self.output_changes) or (self.mode == "refresh-only" and bool(self.drift))

    def get(self, address: str) -> ResourceChange | None:
        for c in self.changes:
            if c.address == address:
                return c
        return None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["changes"] = [c.to_dict() for c in self.changes]
        out: dict[str, Any] = _enc(d)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Plan":
        d = dict(d)
        changes = [ResourceChange.from_dict(c) for c in d.pop("changes", [])]
        outs = [OutputChange(**_dec(o)) for o in d.pop("output_changes", [])]
        pols = [PolicyResult(**p) for p in d.pop("policy_results", [])]
        return cls(changes=changes, output_changes=outs, policy_results=pols, **_dec(d))


_UNK = {"__mlform_unknown__": True}


def _enc(v: Any) -> Any:
    """UNKNOWN -> a JSON marker, so saved plans keep unknowns."""
    if v is UNKNOWN:
        return dict(_UNK)
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        if v == _UNK:
            return UNKNOWN
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dec(x) for x in v]
    return v


__all__ = ["Action", "OutputChange", "Plan", "PolicyResult", "ResourceChange", "SYMBOL", "contains_unknown"]
