"""The weighted router: the model versions one server holds and how traffic splits.

All mutation happens on the event-loop thread, and a request picks its version
once, up front, holding a reference to it until it finishes. So loading,
reweighting or removing a version never disturbs a request in flight: the old
version object lives until its last request is done.

Traffic splits by smooth weighted round-robin (as nginx does): over any run of
``sum(weights)`` requests each version gets exactly its share, interleaved,
without a random draw per request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

from mlform.providers.server.runners import (
    Runner, RunnerError, RunnerLoadError, TensorSpec, example_feed, load_runner,
)
from mlform.engine.digest import file_digest
from mlform.providers.server.config import VersionSpec, same_digest
from mlform.providers.server.metrics import VersionMetrics
from mlform.providers.server.stats import RequestLog

log = logging.getLogger("mlform.server")

# A version whose runs average above OFFLOAD_ABOVE_MS moves to a worker thread
# so it does not stall the event loop; it comes back below INLINE_BELOW_MS.
# Small models (tens of microseconds) are faster called inline.
OFFLOAD_ABOVE_MS = 2.0
INLINE_BELOW_MS = 1.0
WARMUP_RUNS = 5


class RouterError(Exception):
    """A routing change was refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class ModelVersion:
    """One loaded version: its runner, identity, counters and run-time profile."""

    id: str
    spec: VersionSpec
    runner: Runner
    digest: str
    log: RequestLog
    load_seconds: float
    loaded_at: float = field(default_factory=time.time)
    ewma_ms: float = 0.0
    offload: bool = False
    inputs: dict[str, TensorSpec] = field(default_factory=dict)
    output_names: frozenset[str] = frozenset()
    input_word: str = "input"  # how error messages name the inputs
    runs: int = 0  # model executions (a batch of requests is one)
    metrics: VersionMetrics = field(init=False)
    batcher: Any = None  # the adaptive batcher (batching.Batcher), made on first use

    def __post_init__(self) -> None:
        self.metrics = VersionMetrics(self.log)
        self.inputs = {s.name: s for s in self.runner.inputs}
        self.output_names = frozenset(s.name for s in self.runner.outputs)
        if getattr(self.runner, "prompt", None) is not None:
            self.input_word = "prompt variable"

    def observe_run(self, ms: float) -> None:
        """Fold one run time into the moving average that decides inline vs thread."""
        self.runs += 1
        self.ewma_ms += (ms - self.ewma_ms) * 0.05
        if self.offload:
            self.offload = self.ewma_ms > INLINE_BELOW_MS
        else:
            self.offload = self.ewma_ms > OFFLOAD_ABOVE_MS

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id, "path": self.spec.path, "format": self.spec.format,
            "digest": self.digest, "platform": self.runner.platform,
            "device": self.runner.device, "load_seconds": round(self.load_seconds, 4),
            "loaded_at": self.loaded_at, "requests": self.log.count,
            "errors": self.log.total_errors,
            "inputs": [s.to_json() for s in self.runner.inputs],
            "outputs": [s.to_json() for s in self.runner.outputs],
            "prompt": self.prompt_info(),
        }

    def prompt_info(self) -> dict[str, Any] | None:
        """The served prompt (version, variables, params applied and ignored), or ``None``."""
        prompt = getattr(self.runner, "prompt", None)
        return prompt.describe() if prompt is not None else None


def load_version(spec: VersionSpec, gpus: object, stats_capacity: int) -> ModelVersion:
    """Hash, load and warm up one version (blocking: run it off the event loop).

    Raises :class:`RunnerLoadError` when the file is missing, its digest differs
    from ``spec.digest``, or the runtime cannot load it.
    """
    start = time.perf_counter()
    try:
        digest = file_digest(spec.path)
    except OSError as e:
        raise RunnerLoadError(f"cannot read model file {spec.path}: {e.strerror or e}") from e
    if spec.digest and not same_digest(spec.digest, digest):
        raise RunnerLoadError(
            f"model file {spec.path} has digest {digest}, expected {spec.digest}; "
            "the file changed after it was planned")
    runner = load_runner(spec.path, spec.format, gpus)
    if spec.prompt is not None:
        from mlform.providers.local.prompting import PromptRunner, PromptSpec
        runner = PromptRunner(runner, PromptSpec.from_json(spec.prompt))
    version = ModelVersion(spec.id, spec, runner, digest, RequestLog(stats_capacity),
                           load_seconds=0.0)
    try:
        # The first run pages the weights in and allocates, so it is far slower than the
        # rest: seed the inline/thread decision with the fastest of a few runs, not the first.
        feed = example_feed(runner)
        runs = []
        for _ in range(WARMUP_RUNS):
            t0 = time.perf_counter()
            runner.run(feed)
            runs.append((time.perf_counter() - t0) * 1000)
            if runs[-1] > 100:  # a slow model: one more run tells nothing new
                break
        version.ewma_ms = min(runs)
        version.offload = version.ewma_ms > OFFLOAD_ABOVE_MS
    except (RunnerError, ValueError, RuntimeError) as e:
        log.warning("version %s: warm-up run on zero inputs failed (%s); serving it anyway",
                    spec.id, e)
    version.load_seconds = time.perf_counter() - start
    return version


class Router:
    """Versions by id, their traffic weights, and the per-request pick."""

    def __init__(self) -> None:
        self.versions: dict[str, ModelVersion] = {}
        self.weights: dict[str, float] = {}
        self._table: tuple[ModelVersion, ...] = ()
        self._table_weights: tuple[float, ...] = ()
        self._current: list[float] = []
        self._total = 0.0

    @property
    def ready(self) -> bool:
        """True when some version receives traffic."""
        return bool(self._table)

    def pick(self) -> ModelVersion | None:
        """The version that serves the next request, or ``None`` when none is routable."""
        table = self._table
        if len(table) == 1:
            return table[0]
        if not table:
            return None
        cur, weights = self._current, self._table_weights
        best = 0
        for i, w in enumerate(weights):
            cur[i] += w
            if cur[i] > cur[best]:
                best = i
        cur[best] -= self._total
        return table[best]

    def add(self, version: ModelVersion, weight: float | None = None) -> None:
        """Install a loaded version; it gets ``weight`` (default: all traffic if it is the
        first version, else none). Refuses an id already present."""
        if version.id in self.versions:
            raise RouterError(f"version {version.id!r} is already loaded; remove it first", 409)
        if weight is None:
            weight = 100.0 if not any(self.weights.values()) else 0.0
        self.versions[version.id] = version
        try:
            self.set_weights({**self.weights, version.id: weight})
        except RouterError:
            del self.versions[version.id]
            raise

    def set_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Replace the split; versions not named get 0. Weights are relative (percent by
        convention) and must not all be zero while versions are loaded."""
        new: dict[str, float] = {}
        for vid, w in weights.items():
            if vid not in self.versions:
                raise RouterError(f"no version {vid!r} is loaded (loaded: "
                                  f"{', '.join(self.versions) or 'none'})", 404)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
                raise RouterError(f"weight of {vid!r} must be a number >= 0, got {w!r}")
            new[vid] = float(w)
        for vid in self.versions:
            new.setdefault(vid, 0.0)
        if self.versions and not any(new.values()):
            raise RouterError("weights must send traffic to at least one version")
        routable = [(self.versions[v], w) for v, w in new.items() if w > 0]
        # Swap every piece in one step: the loop thread never sees a half-made table.
        self.weights = new
        self._table = tuple(v for v, _ in routable)
        self._table_weights = tuple(w for _, w in routable)
        self._current = [0.0] * len(routable)
        self._total = sum(self._table_weights)
        return dict(new)

    def remove(self, version_id: str) -> ModelVersion:
        """Drop a version that receives no traffic; requests already on it finish."""
        version = self.versions.get(version_id)
        if version is None:
            raise RouterError(f"no version {version_id!r} is loaded", 404)
        if self.weights.get(version_id, 0.0) > 0:
            raise RouterError(
                f"version {version_id!r} still receives {self.weights[version_id]:g} of the "
                "traffic; shift it away with PUT /mlform/traffic first", 409)
        del self.versions[version_id]
        rest = {v: w for v, w in self.weights.items() if v != version_id}
        self.weights = rest  # the table never held a zero-weight version
        return version

    def primary(self) -> ModelVersion | None:
        """The version with the largest share of traffic (the first loaded on a tie)."""
        if not self.versions:
            return None
        vid = max(self.versions, key=lambda v: self.weights.get(v, 0.0))
        return self.versions[vid]

    def percentages(self) -> dict[str, float]:
        """Weights normalised to percent of traffic."""
        total = sum(self.weights.values())
        return {v: (100.0 * w / total if total else 0.0) for v, w in self.weights.items()}
