"""Suite results: what a run found, how it is shown, and how it is stored.

:class:`SuiteResult` round-trips through :meth:`SuiteResult.to_json` /
:meth:`SuiteResult.from_json` so the engine can record it in state history
with the digests it was computed for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..diagnostics import Diagnostic, Pos, Severity, SourceRange

RESULT_FORMAT = 1
#: How many failing records an assertion result keeps as examples.
MAX_EXAMPLES = 20


def format_number(value: float | None) -> str:
    """A number for display: 4 significant digits (``0.9235``, ``12.35``, ``1234``).

    Whole numbers of 10 000 and above are shown in full rather than in
    exponent form; very small numbers keep the exponent (``1.234e-05``).
    """
    if value is None:
        return "-"
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if abs(value) >= 1e4:
        return str(round(value))
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class Digests:
    """The inputs a result was computed for (``sha256:<hex>`` strings).

    ``target``: the model's digest, or the endpoint's active model digest.
    ``prompt``: the prompt version, for prompt suites. ``judge``: identifies
    the judge endpoint's model, for suites with ``llm_judge`` assertions.
    """

    target: str
    dataset: str
    prompt: str | None = None
    judge: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"target": self.target, "dataset": self.dataset, "prompt": self.prompt, "judge": self.judge}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Digests:
        return cls(d["target"], d["dataset"], d.get("prompt"), d.get("judge"))


@dataclass(frozen=True, slots=True)
class MetricResult:
    """One metric: its value, the bounds it had to meet, and whether it did."""

    name: str
    value: float
    min: float | None
    max: float | None
    passed: bool

    @property
    def threshold_text(self) -> str:
        from .spec import Threshold

        return Threshold(self.min, self.max).describe()

    def failure(self) -> str:
        """``f1_weighted = 0.8123, required >= 0.9``."""
        return f"{self.name} = {format_number(self.value)}, required {self.threshold_text}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": _num_out(self.value), "min": self.min, "max": self.max,
                "passed": self.passed}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> MetricResult:
        return cls(d["name"], _num_in(d["value"]), d.get("min"), d.get("max"), bool(d["passed"]))


@dataclass(frozen=True, slots=True)
class RecordFailure:
    """A record that failed an assertion: its dataset line and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """One assertion over the dataset: its pass rate against ``min_pass_rate``.

    ``mean_score`` is the mean cosine (similarity) or judge score (score
    verdicts); ``failures`` keeps up to :data:`MAX_EXAMPLES` failing records.
    """

    name: str
    kind: str
    passed_count: int
    total: int
    min_pass_rate: float
    passed: bool
    mean_score: float | None = None
    failures: tuple[RecordFailure, ...] = ()

    @property
    def pass_rate(self) -> float:
        return self.passed_count / self.total if self.total else 0.0

    def failure(self) -> str:
        """``contains('x'): pass rate 0.6 (3/5), required >= 1``, plus the first reason."""
        text = (f"{self.name}: pass rate {format_number(self.pass_rate)} ({self.passed_count}/{self.total}), "
                f"required >= {format_number(self.min_pass_rate)}")
        if self.failures:
            text += f"; e.g. line {self.failures[0].line}: {self.failures[0].reason}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "passed_count": self.passed_count, "total": self.total,
                "pass_rate": self.pass_rate, "min_pass_rate": self.min_pass_rate, "passed": self.passed,
                "mean_score": _num_out(self.mean_score),
                "failures": [{"line": f.line, "reason": f.reason} for f in self.failures]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AssertionResult:
        return cls(d["name"], d["kind"], int(d["passed_count"]), int(d["total"]), float(d["min_pass_rate"]),
                   bool(d["passed"]), _num_in(d.get("mean_score")),
                   tuple(RecordFailure(int(f["line"]), f["reason"]) for f in d.get("failures", ())))


class Status(str, Enum):
    """``passed`` / ``failed`` (thresholds), or ``error`` (it could not run)."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"


@dataclass(frozen=True)
class SuiteResult:
    """A suite run: every metric and assertion, the verdict, and what it ran on.

    ``status`` is ``error`` when the suite could not run (an invalid dataset,
    a server that does not answer); ``diagnostics`` then says why, and the
    result must not be used to skip a later run.
    """

    suite: str
    status: Status
    metrics: tuple[MetricResult, ...]
    assertions: tuple[AssertionResult, ...]
    digests: Digests
    cache_key: str
    records: int
    duration_s: float
    started_at: str
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def failures(self) -> list[str]:
        """One line per failed metric or assertion (or per error), naming value and threshold."""
        if self.status is Status.ERROR:
            return [d.summary for d in self.diagnostics if d.severity is Severity.ERROR]
        return ([m.failure() for m in self.metrics if not m.passed]
                + [a.failure() for a in self.assertions if not a.passed])

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict for state history."""
        return {
            "format": RESULT_FORMAT,
            "suite": self.suite,
            "status": self.status.value,
            "passed": self.passed,
            "metrics": [m.to_json() for m in self.metrics],
            "assertions": [a.to_json() for a in self.assertions],
            "digests": self.digests.to_json(),
            "cache_key": self.cache_key,
            "records": self.records,
            "duration_s": self.duration_s,
            "started_at": self.started_at,
            "diagnostics": [_diag_out(d) for d in self.diagnostics],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SuiteResult:
        """The inverse of :meth:`to_json`; raises ``ValueError`` for an unknown format."""
        if d.get("format") != RESULT_FORMAT:
            raise ValueError(f"unsupported eval result format {d.get('format')!r}")
        return cls(
            suite=d["suite"],
            status=Status(d["status"]),
            metrics=tuple(MetricResult.from_json(m) for m in d["metrics"]),
            assertions=tuple(AssertionResult.from_json(a) for a in d["assertions"]),
            digests=Digests.from_json(d["digests"]),
            cache_key=d["cache_key"],
            records=int(d["records"]),
            duration_s=float(d["duration_s"]),
            started_at=d["started_at"],
            diagnostics=tuple(_diag_in(x) for x in d.get("diagnostics", ())),
        )


def _num_out(v: float | None) -> float | str | None:
    # JSON has no NaN; keep it as a string so state stays strict JSON.
    if v is not None and (math.isnan(v) or math.isinf(v)):
        return str(v)
    return v


def _num_in(v: Any) -> Any:
    return float(v) if isinstance(v, str) else v


def _diag_out(d: Diagnostic) -> dict[str, Any]:
    out = d.to_json()
    if d.attribute_path is not None:
        out["attribute_path"] = list(d.attribute_path)
    return out


def _diag_in(d: dict[str, Any]) -> Diagnostic:
    rng = None
    if "range" in d:
        r = d["range"]
        rng = SourceRange(r["filename"], Pos(r["start"]["line"], r["start"]["column"]),
                          Pos(r["end"]["line"], r["end"]["column"]))
    path = tuple(d["attribute_path"]) if "attribute_path" in d else None
    return Diagnostic(Severity(d["severity"]), d["summary"], d.get("detail", ""), rng, path, d.get("address"))
