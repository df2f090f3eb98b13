"""The provider protocol (docs/providers.md).

Every call takes a request object and returns a response object carrying
diagnostics, as Terraform's ``internal/providers`` does. Providers report
problems as diagnostics with an ``attribute_path``; the engine maps the path
to the user's source range. A provider raises only for bugs.

A provider author subclasses :class:`ProviderBase`, overrides what the kinds
it serves need, and registers the class under a name in the
``mlform.providers`` entry-point group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Protocol

from mlform.engine.diagnostics import AttrPath, Diagnostic, Diagnostics

Action = Literal["create", "update", "delete"]


def v2_model_name(address: str) -> str:
    """The model name an endpoint serves under ``/v2/models/{name}``: its block name
    (and instance key), made safe for a URL path segment.

    ``endpoint.sentiment`` -> ``sentiment``; ``endpoint.r["eu"]`` -> ``r_eu``.
    Providers serve under this name and eval suites call it, so both sides
    use this one function.
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", address.split(".", 1)[-1]).strip("_")


class ProgressReporter(Protocol):
    """Where a provider reports progress of long work (server start, waits)."""

    def __call__(self, message: str, *, fraction: float | None = None) -> None: ...


def _no_progress(message: str, *, fraction: float | None = None) -> None:
    return None


class ProgressEvent(str):
    """A progress message that also carries figures a terminal can draw.

    It *is* the plain line (a ``str``), so every consumer that prints messages keeps working; a richer renderer
    (``engine/cli/progress.py``) reads the fields: ``phase`` (``start``, ``gate``, ``step``, ``bake``, ``rollback``,
    ``done``, ``eval``, ``evaluated``), ``percent`` of traffic on the new version, live ``error_rate``, ``p99_ms``,
    ``requests``, ``remaining_s`` / ``total_s`` of a wait, ``done`` / ``total`` records of an eval suite.
    """

    phase: str
    percent: float | None
    error_rate: float | None
    p99_ms: float | None
    requests: int | None
    remaining_s: float | None
    total_s: float | None
    done: int | None
    total: int | None

    def __new__(cls, text: str, *, phase: str, percent: float | None = None, error_rate: float | None = None,
                p99_ms: float | None = None, requests: int | None = None, remaining_s: float | None = None,
                total_s: float | None = None, done: int | None = None, total: int | None = None) -> "ProgressEvent":
        obj = super().__new__(cls, text)
        obj.phase, obj.percent, obj.error_rate, obj.p99_ms = phase, percent, error_rate, p99_ms
        obj.requests, obj.remaining_s, obj.total_s, obj.done, obj.total = requests, remaining_s, total_s, done, total
        return obj


@dataclass
class ProviderContext:
    """What the engine hands every provider at configure time."""

    project_dir: Path
    work_dir: Path  # the project's .mlform/ folder
    provider_name: str
    alias: str | None = None


# --- schema -----------------------------------------------------------------

@dataclass
class GetSchemaResponse:
    """Which resource kinds a provider serves, and its own config attributes.

    ``provider_attributes`` maps attribute name to a type string
    (``"string"``, ``"number"``, ``"bool"``, ``"list"``, ``"map"``, ``"any"``).
    ``kind_attributes`` lists extra attributes per kind beyond the core
    language schema (for example a cloud-only ``instance_type`` family).
    """

    kinds: list[str]
    provider_attributes: dict[str, str] = field(default_factory=dict)
    kind_attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ValidateConfigRequest:
    kind: str
    address: str
    config: dict[str, Any]


@dataclass
class ValidateConfigResponse:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ConfigureRequest:
    config: dict[str, Any]
    context: ProviderContext


@dataclass
class ConfigureResponse:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- plan / apply / read -----------------------------------------------------

@dataclass
class PlanChangeRequest:
    """Plan one resource instance.

    ``config`` is the evaluated configuration (may hold ``UNKNOWN``), ``None``
    when the resource is being destroyed. ``prior_state`` is the recorded
    attributes, ``None`` when creating.
    """

    kind: str
    address: str
    config: dict[str, Any] | None
    prior_state: dict[str, Any] | None
    prior_private: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanChangeResponse:
    """The planned new state, computed attributes left ``UNKNOWN``.

    ``requires_replace`` names attribute paths whose change forces a
    destroy/create. ``estimates`` carries endpoint cost/latency figures shown
    beside the change (keys: ``cost_per_hour``, ``cost_per_million``,
    ``p99_ms``, ``instance_type``, ``replicas``, ``batch_size``, ``device``).
    ``rollout`` is set when applying the change moves traffic between
    versions (the engine drives it through :meth:`ProviderBase.set_traffic`).
    """

    planned_state: dict[str, Any] | None
    requires_replace: list[AttrPath] = field(default_factory=list)
    estimates: dict[str, Any] | None = None
    rollout: bool = False
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ApplyChangeRequest:
    kind: str
    address: str
    action: Action
    prior_state: dict[str, Any] | None
    planned_state: dict[str, Any] | None
    config: dict[str, Any] | None
    operation_id: str
    prior_private: dict[str, Any] = field(default_factory=dict)
    progress: Callable[..., None] = _no_progress


@dataclass
class ApplyChangeResponse:
    new_state: dict[str, Any] | None
    private: dict[str, Any] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ReadRequest:
    kind: str
    address: str
    state: dict[str, Any]
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReadResponse:
    """``state`` is ``None`` when the object is gone."""

    state: dict[str, Any] | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ImportResourceRequest:
    kind: str
    address: str
    id: str


@dataclass
class ImportResourceResponse:
    state: dict[str, Any] | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class FindOrphansRequest:
    """Objects this provider tagged with ``operation_id`` but never reported.

    After a crash between a create call and the state write, the engine asks
    the provider to find objects labelled with the address and operation ID
    so it can adopt them instead of leaking them.
    """

    kind: str
    address: str
    operation_id: str


@dataclass
class FindOrphansResponse:
    state: dict[str, Any] | None
    private: dict[str, Any] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- endpoints: traffic, observation, hardware ------------------------------

@dataclass
class StageVersionRequest:
    """Start ``planned_state``'s model beside the serving one, at 0% traffic."""

    address: str
    prior_state: dict[str, Any]
    planned_state: dict[str, Any]
    config: dict[str, Any]
    operation_id: str
    progress: Callable[..., None] = _no_progress
    private: dict[str, Any] = field(default_factory=dict)  # the provider's own data, from state


@dataclass
class Interrupted:
    """What an earlier, interrupted rollout had left on the endpoint, now undone.

    ``version`` is the half-rolled-out version, ``percent`` the traffic it
    had, ``restored`` the version that has all the traffic again.
    """

    version: str
    percent: float
    restored: str


@dataclass
class StageVersionResponse:
    """``interrupted`` is set when staging first had to undo a rollout left half-way."""

    version_id: str | None
    url: str | None = None  # where the staged version can be reached directly
    interrupted: Interrupted | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class SetTrafficRequest:
    address: str
    state: dict[str, Any]
    weights: dict[str, int]  # version id -> percent, summing to 100
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class SetTrafficResponse:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ObserveRequest:
    address: str
    state: dict[str, Any]
    version_id: str | None
    window_seconds: float
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class ObserveResponse:
    request_count: int = 0
    error_count: int = 0
    error_rate: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class FinishRolloutRequest:
    """Make ``keep`` the only version (promote or roll back) and return state."""

    address: str
    state: dict[str, Any]
    planned_state: dict[str, Any]
    keep: str
    remove: str
    progress: Callable[..., None] = _no_progress
    private: dict[str, Any] = field(default_factory=dict)


@dataclass
class FinishRolloutResponse:
    new_state: dict[str, Any] | None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class HardwareOption:
    """One hardware type a provider can serve on, priced at a date."""

    name: str
    accelerator: str  # "none" or e.g. "nvidia-t4"
    vcpus: int
    memory_gib: float
    price_per_hour: float
    as_of: str
    speed_factor: float = 1.0  # latency multiplier against this machine's CPU


@dataclass
class ListHardwareResponse:
    options: list[HardwareOption]
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


class ProviderBase:
    """Defaults for every protocol call; subclasses override what they serve."""

    name: ClassVar[str] = "base"
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.context: ProviderContext | None = None
        self.config: dict[str, Any] = {}

    def get_schema(self) -> GetSchemaResponse:
        return GetSchemaResponse(kinds=list(self.kinds))

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        return ValidateConfigResponse()

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        self.context = req.context
        self.config = dict(req.config)
        return ConfigureResponse()

    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        return PlanChangeResponse(planned_state=req.config)

    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        resp.diagnostics.error(f"{self.name} provider cannot apply {req.kind} resources")
        return resp

    def read(self, req: ReadRequest) -> ReadResponse:
        return ReadResponse(state=req.state)

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        resp = ImportResourceResponse(state=None)
        resp.diagnostics.error(
            f"{self.name} provider cannot import {req.kind} resources",
            "Declare the resource and run `mlform apply` to create it instead.",
        )
        return resp

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        return FindOrphansResponse(state=None)

    # endpoint-only calls
    def stage_version(self, req: StageVersionRequest) -> StageVersionResponse:
        resp = StageVersionResponse(version_id=None)
        resp.diagnostics.error(f"{self.name} provider cannot run rollouts")
        return resp

    def set_traffic(self, req: SetTrafficRequest) -> SetTrafficResponse:
        resp = SetTrafficResponse()
        resp.diagnostics.error(f"{self.name} provider cannot shift traffic")
        return resp

    def observe(self, req: ObserveRequest) -> ObserveResponse:
        return ObserveResponse()

    def finish_rollout(self, req: FinishRolloutRequest) -> FinishRolloutResponse:
        resp = FinishRolloutResponse(new_state=None)
        resp.diagnostics.error(f"{self.name} provider cannot run rollouts")
        return resp

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=[])

    def close(self) -> None:
        """Release clients and connections; servers started for users stay up."""


__all__ = [
    "Action", "ApplyChangeRequest", "ApplyChangeResponse", "ConfigureRequest",
    "ConfigureResponse", "Diagnostic", "Diagnostics", "FindOrphansRequest",
    "FindOrphansResponse", "FinishRolloutRequest", "FinishRolloutResponse",
    "GetSchemaResponse", "HardwareOption", "ImportResourceRequest",
    "ImportResourceResponse", "Interrupted", "ListHardwareResponse", "ObserveRequest",
    "ObserveResponse", "PlanChangeRequest", "PlanChangeResponse",
    "ProgressEvent", "ProgressReporter", "ProviderBase", "ProviderContext", "ReadRequest",
    "ReadResponse", "SetTrafficRequest", "SetTrafficResponse",
    "StageVersionRequest", "StageVersionResponse", "ValidateConfigRequest",
    "ValidateConfigResponse", "AttrPath", "v2_model_name",
]
