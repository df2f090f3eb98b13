"""What a suite asks for: the typed form of an ``eval_suite`` block.

The engine builds a :class:`SuiteSpec` from the resolved HCL and hands it to
:func:`~mlform.engine.eval.runner.run_suite`. :meth:`SuiteSpec.validate`
reports every mistake at once, each pointing at the metric or assertion's
source range when the engine supplied one.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Mapping

import jsonschema  # type: ignore[import-untyped, unused-ignore]

from ..diagnostics import Diagnostics, DiagnosticsError, SourceRange, did_you_mean
from .dataset import DatasetRules
from .metrics import MetricKind, MetricName, parse_metric_name
from .prompt import PromptSpec, placeholders

DEFAULT_SIMILARITY = 0.8
DEFAULT_JUDGE_SCORE = 4.0


@dataclass(frozen=True, slots=True)
class Threshold:
    """Bounds a value must stay within: ``min <= value <= max`` (either optional)."""

    min: float | None = None
    max: float | None = None

    def check(self, value: float) -> bool:
        """Whether ``value`` is within bounds (NaN never is)."""
        if math.isnan(value):
            return False
        if self.min is not None and value < self.min:
            return False
        return self.max is None or value <= self.max

    def describe(self) -> str:
        """``>= 0.9``, ``<= 40`` or ``>= 0.1, <= 0.9``, numbers formatted for display."""
        from .results import format_number

        parts = []
        if self.min is not None:
            parts.append(f">= {format_number(self.min)}")
        if self.max is not None:
            parts.append(f"<= {format_number(self.max)}")
        return ", ".join(parts) or "(none)"


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """``metric "NAME" { min = ..  max = .. }``."""

    name: str
    threshold: Threshold
    range: SourceRange | None = None

    def parsed(self) -> MetricName:
        """The parsed name; raises ``MetricNameError`` (see ``validate``)."""
        return parse_metric_name(self.name)


class AssertionKind(str, Enum):
    """The checks that can be made on generated text."""

    EQUALS = "equals"
    CONTAINS = "contains"
    REGEX = "regex"
    JSON_VALID = "json_valid"
    JSON_SCHEMA = "json_schema"
    SIMILARITY = "similarity"
    LLM_JUDGE = "llm_judge"


class Verdict(str, Enum):
    """How an ``llm_judge`` answers: PASS/FAIL, or a score from 1 to 5."""

    PASS_FAIL = "pass_fail"
    SCORE = "score"


# Kinds that compare with a reference text: ``value`` or, without it, the record's ``expected``.
REFERENCE_KINDS = (AssertionKind.EQUALS, AssertionKind.CONTAINS, AssertionKind.SIMILARITY)


@dataclass(frozen=True)
class AssertionSpec:
    """``assert "KIND" { ... }`` on each generated output.

    ``value``: the text for equals/contains/similarity (default: the record's
    ``expected``) or the pattern for regex. ``schema``: the JSON Schema for
    json_schema. ``threshold``: minimum cosine for similarity (default 0.8) or
    minimum judge score when ``verdict = "score"`` (default 4). ``rubric``:
    what the judge grades. ``min_pass_rate``: the share of records that must
    pass (default 1.0, every record).
    """

    kind: AssertionKind
    value: str | None = None
    schema: Mapping[str, Any] | None = None
    threshold: float | None = None
    rubric: str | None = None
    verdict: Verdict = Verdict.PASS_FAIL
    ignore_case: bool = False
    min_pass_rate: float = 1.0
    name: str | None = None
    range: SourceRange | None = None

    @property
    def label(self) -> str:
        """How results name this assertion: ``name`` or ``kind`` plus its value."""
        if self.name:
            return self.name
        if self.value is not None and self.kind is not AssertionKind.LLM_JUDGE:
            short = self.value if len(self.value) <= 30 else self.value[:27] + "..."
            return f"{self.kind.value}({short!r})"
        return self.kind.value

    def effective_threshold(self) -> float | None:
        """The threshold in force, defaults applied (``None`` where none applies)."""
        if self.kind is AssertionKind.SIMILARITY:
            return DEFAULT_SIMILARITY if self.threshold is None else self.threshold
        if self.kind is AssertionKind.LLM_JUDGE and self.verdict is Verdict.SCORE:
            return DEFAULT_JUDGE_SCORE if self.threshold is None else self.threshold
        return None


@dataclass(frozen=True)
class SuiteSpec:
    """One eval suite, independent of HCL.

    ``name`` is the suite's address (``eval_suite.golden``). ``labels`` maps
    class indexes to names (``expected`` may then be a label). ``output``
    picks the model output to score (default: the first). ``batch_size``
    records go to the predictor per call; latency metrics are per call, so
    keep it at 1 to measure single-request latency. ``prompt`` makes it a
    text suite whose inputs are prompt variables.
    """

    name: str
    dataset: Path
    metrics: tuple[MetricSpec, ...] = ()
    assertions: tuple[AssertionSpec, ...] = ()
    labels: tuple[str, ...] | None = None
    output: str | None = None
    batch_size: int = 1
    prompt: PromptSpec | None = None
    range: SourceRange | None = None

    @property
    def is_text(self) -> bool:
        """Whether the target generates text (a prompt or assertions are present)."""
        return self.prompt is not None or bool(self.assertions)

    def metric_names(self) -> list[MetricName]:
        """Parsed metric names; call :meth:`validate` first."""
        return [m.parsed() for m in self.metrics]

    def dataset_rules(self) -> DatasetRules:
        """What each dataset record must look like for this suite."""
        kinds = {n.kind for n in self._parsable_names()}
        return DatasetRules(
            text=self.is_text,
            prompt_variables=self.prompt.names if self.prompt is not None else None,
            expect_class=MetricKind.CLASSIFICATION in kinds,
            expect_number=MetricKind.REGRESSION in kinds,
            expect_text=any(a.kind in REFERENCE_KINDS and a.value is None for a in self.assertions),
            labels=self.labels,
        )

    def _parsable_names(self) -> list[MetricName]:
        out = []
        for m in self.metrics:
            try:
                out.append(m.parsed())
            except DiagnosticsError:
                pass
        return out

    def validate(self) -> Diagnostics:
        """Every problem in the spec itself (not the dataset), as diagnostics."""
        diags = Diagnostics()
        where = {"address": self.name}
        if not self.metrics and not self.assertions:
            diags.error("Eval suite checks nothing",
                        'Add a metric "accuracy" { min = 0.9 } block or an assertion.',
                        self.range, **where)
        if self.batch_size < 1:
            diags.error("batch_size must be at least 1", f"It is {self.batch_size}.", self.range, **where)
        if self.labels is not None and len(set(self.labels)) != len(self.labels):
            dupes = sorted({lb for lb in self.labels if self.labels.count(lb) > 1})
            diags.error("Duplicate labels", f"Each label must appear once: {', '.join(dupes)}.",
                        self.range, **where)
        for m in self.metrics:
            self._validate_metric(m, diags)
        for a in self.assertions:
            validate_assertion(a, diags, self.name)
        if self.prompt is not None and self.prompt.variables is not None:
            for used in dict.fromkeys(placeholders(self.prompt.template)):
                if used not in self.prompt.variables:
                    diags.error(f'Prompt template uses undeclared variable "{used}"',
                                f"Add it to variables, or fix the placeholder."
                                f"{did_you_mean(used, self.prompt.variables)}", self.range, **where)
        return diags

    def _validate_metric(self, m: MetricSpec, diags: Diagnostics) -> None:
        rng = m.range or self.range
        where = {"address": self.name}
        try:
            name = m.parsed()
        except DiagnosticsError as e:
            for d in e.diagnostics:
                diags.error(d.summary, d.detail, rng, **where)
            return
        t = m.threshold
        if t.min is None and t.max is None:
            diags.error(f'Metric "{m.name}" has no threshold',
                        "Give min (for scores) or max (for errors and latencies).", rng, **where)
        elif t.min is not None and t.max is not None and t.min > t.max:
            diags.error(f'Metric "{m.name}": min is greater than max',
                        f"min = {t.min}, max = {t.max}: no value can pass.", rng, **where)
        if self.is_text and name.kind in (MetricKind.CLASSIFICATION, MetricKind.REGRESSION):
            diags.error(f'Metric "{m.name}" needs numeric model outputs',
                        "This suite generates text (it has a prompt or assertions); use "
                        "pass_rate, latency metrics and assertions instead.", rng, **where)
        if name.kind is MetricKind.ASSERTION and not self.assertions:
            diags.error('Metric "pass_rate" needs assertions',
                        "pass_rate is the share of records that pass every assertion; add one.",
                        rng, **where)
        if isinstance(name.label, str) and not (self.labels is None and name.label.isdigit()):
            if self.labels is None:
                diags.error(f'Metric "{m.name}" names a class label but the suite declares none',
                            'Declare labels = ["...", ...], or select a class by index: '
                            f"{name.base}[0].", rng, **where)
            elif name.label not in self.labels:
                diags.error(f'Unknown class label "{name.label}" in metric "{m.name}"',
                            f"Declared labels: {', '.join(self.labels)}."
                            f"{did_you_mean(name.label, self.labels)}", rng, **where)
        if isinstance(name.label, int) and self.labels is not None and name.label >= len(self.labels):
            diags.error(f'Class index {name.label} is out of range in metric "{m.name}"',
                        f"The suite declares {len(self.labels)} labels (indexes 0-{len(self.labels) - 1}).",
                        rng, **where)


def validate_assertion(a: AssertionSpec, diags: Diagnostics, address: str) -> None:
    """Static checks of one assertion (thresholds, patterns); errors at its range, for ``address``."""
    rng = a.range
    kind = a.kind.value
    if not 0.0 <= a.min_pass_rate <= 1.0:
        diags.error(f'Assertion "{kind}": min_pass_rate must be between 0 and 1',
                    f"It is {a.min_pass_rate}; 0.95 means 95% of records must pass.", rng, address=address)
    if a.kind is AssertionKind.REGEX:
        if a.value is None:
            diags.error('Assertion "regex" needs a pattern', "Set value = \"^[A-Z]\".", rng, address=address)
        else:
            try:
                re.compile(a.value)
            except re.error as e:
                diags.error("Invalid regular expression", f"{a.value!r}: {e}.", rng, address=address)
    if a.kind is AssertionKind.JSON_SCHEMA:
        if a.schema is None:
            diags.error('Assertion "json_schema" needs a schema',
                        "Set schema = { type = \"object\", ... }.", rng, address=address)
        else:
            try:
                jsonschema.validators.validator_for(a.schema).check_schema(a.schema)
            except jsonschema.SchemaError as e:
                diags.error("Invalid JSON Schema", f"{e.message} (at {'/'.join(map(str, e.path)) or 'the root'}).",
                            rng, address=address)
    if a.kind is AssertionKind.SIMILARITY and a.threshold is not None and not -1.0 <= a.threshold <= 1.0:
        diags.error("Similarity threshold must be between -1 and 1",
                    f"It is {a.threshold}; it is a cosine similarity (0.8 is a close paraphrase).",
                    rng, address=address)
    if a.kind is AssertionKind.LLM_JUDGE:
        if not a.rubric:
            diags.error('Assertion "llm_judge" needs a rubric',
                        'Say what the judge should check: rubric = "The answer is polite and correct."',
                        rng, address=address)
        if a.verdict is Verdict.SCORE and a.threshold is not None and not 1.0 <= a.threshold <= 5.0:
            diags.error("Judge score threshold must be between 1 and 5", f"It is {a.threshold}.",
                        rng, address=address)
    if a.kind is AssertionKind.CONTAINS and a.value == "":
        diags.error('Assertion "contains" with an empty value always passes',
                    "Give the text that must appear.", rng, address=address)
