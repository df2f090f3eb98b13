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
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Protocol

from mlform.engine.diagnostics import AttrPath, Diagnostic, Diagnostics
from mlform.engine.providers.schema import GetSchemaResponse  # kinds, provider block, kind schemas

if TYPE_CHECKING:
    from mlform.engine.providers.rollout import RolloutDriver

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
    versions: the engine runs it through the provider's rollout driver
    (:meth:`ProviderBase.rollouts`), never through ``apply_change``.
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


@dataclass
class LogsRequest:
    """Show the logs of one recorded resource (``mlform logs ADDR [--follow]``): each line goes
    to ``write``; with ``follow`` the call returns when the object stops or the user interrupts."""

    kind: str
    address: str
    state: dict[str, Any]
    private: dict[str, Any] = field(default_factory=dict)
    follow: bool = False
    tail: int | None = None
    write: Callable[[str], None] = print


@dataclass
class LogsResponse:
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


# --- hardware ----------------------------------------------------------------

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
    max_replicas: int | None = None  # the most replicas of one endpoint it runs (None: no limit)


@dataclass
class ListHardwareResponse:
    options: list[HardwareOption]
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


@dataclass
class ProfileRequest:
    """Measure a model on this machine: each batch size at each intra-op thread count
    (docs/constraints.md). ``model`` is the model's evaluated attributes (path, format, digest)."""

    model: dict[str, Any]
    batch_sizes: list[int]
    threads: list[int]
    progress: Callable[..., None] = _no_progress


@dataclass
class ProfileResponse:
    """``points``: ``{batch_size, threads, p50_ms, p99_ms}`` of one model execution each (ms);
    empty when the model cannot run here. ``overhead_ms`` is what the server adds per request;
    ``device``/``accelerator`` what it ran on, ``cpu`` this machine's processor."""

    points: list[dict[str, Any]] = field(default_factory=list)
    device: str = "cpu"
    accelerator: str = "none"
    cpu: str = ""
    overhead_ms: float = 0.0
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


class ProviderBase:
    """Defaults for the CRUD calls; subclasses override what they serve.

    The defaults say what a provider that does not override them does (plans the
    configuration as it is, cannot apply or import, sees no orphans); nothing
    here pretends to roll out or observe: that is :meth:`rollouts`' driver.
    """

    name: ClassVar[str] = "base"
    kinds: ClassVar[tuple[str, ...]] = ()
    #: the mlform extra whose SDK the provider needs (``"aws"``): :meth:`configure` checks it
    #: first, so a missing one is one diagnostic (at ``extra_path`` of the provider block)
    extra: ClassVar[str | None] = None
    extra_path: ClassVar[AttrPath | None] = None

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
        resp = ConfigureResponse()
        if self.extra is not None:
            from mlform.engine.diagnostics import DiagnosticsError
            from mlform.engine.extras import require_extra

            try:
                require_extra(self.extra, f"The {self.name} provider", path=self.extra_path)
            except DiagnosticsError as e:
                resp.diagnostics.extend(e.diagnostics)
        return resp

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

    def logs(self, req: LogsRequest) -> LogsResponse:
        """Write the resource's logs through ``req.write`` (optional: by default, there are none)."""
        resp = LogsResponse()
        resp.diagnostics.error(f"The {self.name} provider has no logs",
                               f"{req.address} is served by the {self.name} provider, which keeps no logs "
                               "mlform can show.")
        return resp

    def rollouts(self) -> "RolloutDriver | None":
        """This provider's rollout driver (engine/providers/rollout.py), or ``None``: its
        endpoints cannot move traffic between versions, and a plan that needs it says so."""
        return None

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=[])

    def profile(self, req: ProfileRequest) -> ProfileResponse:
        """The model measured on this machine; a provider that cannot measure returns no points
        (the engine then asks the ``local`` provider and scales, docs/constraints.md)."""
        return ProfileResponse()

    def close(self) -> None:
        """Release clients and connections; servers started for users stay up."""


__all__ = [
    "Action", "ApplyChangeRequest", "ApplyChangeResponse", "ConfigureRequest",
    "ConfigureResponse", "Diagnostic", "Diagnostics", "FindOrphansRequest",
    "FindOrphansResponse",
    "GetSchemaResponse", "HardwareOption", "ImportResourceRequest",
    "ImportResourceResponse", "ListHardwareResponse", "LogsRequest", "LogsResponse",
    "PlanChangeRequest", "PlanChangeResponse", "ProfileRequest", "ProfileResponse",
    "ProgressEvent", "ProgressReporter", "ProviderBase", "ProviderContext", "ReadRequest",
    "ReadResponse", "ValidateConfigRequest",
    "ValidateConfigResponse", "AttrPath", "v2_model_name",
]
