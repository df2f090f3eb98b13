"""Suite specs, thresholds, number formatting and result round-trips."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlform.engine.diagnostics import Diagnostic, Pos, Severity, SourceRange
from mlform.engine.eval import (
    AssertionKind,
    AssertionResult,
    AssertionSpec,
    Digests,
    MetricResult,
    MetricSpec,
    PromptSpec,
    RecordFailure,
    Status,
    SuiteResult,
    SuiteSpec,
    Threshold,
    Verdict,
    format_number,
)

RNG = SourceRange("main.mlf.hcl", Pos(4, 3), Pos(4, 30))


def spec(**kw: object) -> SuiteSpec:
    base: dict[str, object] = {"name": "eval_suite.golden", "dataset": Path("d.jsonl")}
    base.update(kw)
    return SuiteSpec(**base)  # type: ignore[arg-type]


def summaries(s: SuiteSpec) -> list[str]:
    return [d.summary for d in s.validate()]


@pytest.mark.parametrize(("value", "text"), [
    (0.923456, "0.9235"), (0.9, "0.9"), (12.3456, "12.35"), (1234.5, "1234"), (123456.7, "123457"),
    (0.0, "0"), (1.23456e-5, "1.235e-05"), (None, "-"), (math.nan, "nan"),
])
def test_format_number(value: float | None, text: str) -> None:
    assert format_number(value) == text


def test_threshold_checks_and_describes() -> None:
    assert Threshold(min=0.9).check(0.9) and not Threshold(min=0.9).check(0.8999)
    assert Threshold(max=40).check(40) and not Threshold(max=40).check(40.01)
    assert not Threshold(min=0.0).check(math.nan)
    assert Threshold(0.1, 0.9).describe() == ">= 0.1, <= 0.9"


def test_valid_spec_has_no_diagnostics() -> None:
    s = spec(metrics=(MetricSpec("accuracy", Threshold(min=0.9)), MetricSpec('f1["pos"]', Threshold(min=0.5)),
                      MetricSpec("p95_latency_ms", Threshold(max=40))), labels=("neg", "pos"))
    assert list(s.validate()) == []
    assert s.dataset_rules().expect_class and not s.is_text


def test_spec_mistakes_are_all_reported_with_ranges() -> None:
    s = spec(metrics=(MetricSpec("acuracy", Threshold(min=0.9), RNG),
                      MetricSpec("f1", Threshold()),
                      MetricSpec("rmse", Threshold(min=2, max=1)),
                      MetricSpec('f1["postive"]', Threshold(min=0.5)),
                      MetricSpec("recall[7]", Threshold(min=0.5)),
                      MetricSpec("pass_rate", Threshold(min=1))),
             labels=("neg", "pos", "neg"), batch_size=0, range=RNG)
    diags = list(s.validate())
    got = [d.summary for d in diags]
    assert got == [
        "batch_size must be at least 1",
        "Duplicate labels",
        'Unknown metric "acuracy"',
        'Metric "f1" has no threshold',
        'Metric "rmse": min is greater than max',
        'Unknown class label "postive" in metric "f1["postive"]"',
        'Class index 7 is out of range in metric "recall[7]"',
        'Metric "pass_rate" needs assertions',
    ]
    assert all(d.range == RNG and d.address == "eval_suite.golden" for d in diags)
    assert 'Did you mean "accuracy"?' in diags[2].detail
    assert 'Did you mean "pos"?' in diags[5].detail


def test_text_suite_rules() -> None:
    s = spec(metrics=(MetricSpec("accuracy", Threshold(min=0.9)),),
             assertions=(AssertionSpec(AssertionKind.CONTAINS),),
             prompt=PromptSpec("Summarize {{ text }} in {{ n }} words", ("text",)))
    assert summaries(s) == ['Metric "accuracy" needs numeric model outputs',
                            'Prompt template uses undeclared variable "n"']
    rules = s.dataset_rules()
    assert rules.text and rules.expect_text and rules.prompt_variables == ("text",)
    assert summaries(spec()) == ["Eval suite checks nothing"]
    assert summaries(spec(metrics=(MetricSpec('f1["x"]', Threshold(min=0.1)),)))[0].startswith(
        'Metric "f1["x"]" names a class label but the suite declares none')


@pytest.mark.parametrize(("a", "summary"), [
    (AssertionSpec(AssertionKind.REGEX), 'Assertion "regex" needs a pattern'),
    (AssertionSpec(AssertionKind.REGEX, value="(["), "Invalid regular expression"),
    (AssertionSpec(AssertionKind.JSON_SCHEMA), 'Assertion "json_schema" needs a schema'),
    (AssertionSpec(AssertionKind.JSON_SCHEMA, schema={"type": "nope"}), "Invalid JSON Schema"),
    (AssertionSpec(AssertionKind.SIMILARITY, threshold=1.5), "Similarity threshold must be between -1 and 1"),
    (AssertionSpec(AssertionKind.LLM_JUDGE), 'Assertion "llm_judge" needs a rubric'),
    (AssertionSpec(AssertionKind.LLM_JUDGE, rubric="r", verdict=Verdict.SCORE, threshold=9),
     "Judge score threshold must be between 1 and 5"),
    (AssertionSpec(AssertionKind.JSON_VALID, min_pass_rate=1.5),
     'Assertion "json_valid": min_pass_rate must be between 0 and 1'),
    (AssertionSpec(AssertionKind.CONTAINS, value=""), 'Assertion "contains" with an empty value always passes'),
])
def test_assertion_mistakes(a: AssertionSpec, summary: str) -> None:
    assert summaries(spec(assertions=(a,))) == [summary]


def test_assertion_labels_and_defaults() -> None:
    assert AssertionSpec(AssertionKind.CONTAINS, value="refund").label == "contains('refund')"
    assert AssertionSpec(AssertionKind.JSON_VALID, name="is json").label == "is json"
    assert AssertionSpec(AssertionKind.SIMILARITY).effective_threshold() == 0.8
    assert AssertionSpec(AssertionKind.LLM_JUDGE, verdict=Verdict.SCORE).effective_threshold() == 4.0
    assert AssertionSpec(AssertionKind.LLM_JUDGE).effective_threshold() is None


def test_failures_name_metric_value_and_threshold() -> None:
    r = SuiteResult("eval_suite.golden", Status.FAILED,
                    (MetricResult("f1_weighted", 0.812345, 0.9, None, False),
                     MetricResult("p95_latency_ms", 12.0, None, 40.0, True)),
                    (AssertionResult("contains('x')", "contains", 3, 5, 1.0, False, None,
                                     (RecordFailure(2, "output 'a' does not contain 'x'"),)),),
                    Digests("sha256:t", "sha256:d"), "sha256:k", 5, 0.1, "2026-01-01T00:00:00Z")
    assert not r.passed
    assert r.failures() == ["f1_weighted = 0.8123, required >= 0.9",
                            "contains('x'): pass rate 0.6 (3/5), required >= 1; e.g. line 2: "
                            "output 'a' does not contain 'x'"]


names = st.text(min_size=1, max_size=12)
finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
metric_results = st.builds(MetricResult, names, st.one_of(finite, st.just(math.inf)),
                           st.none() | finite, st.none() | finite, st.booleans())
assertion_results = st.builds(
    AssertionResult, names, st.sampled_from([k.value for k in AssertionKind]), st.integers(0, 50),
    st.integers(0, 50), st.floats(0, 1), st.booleans(), st.none() | finite,
    st.lists(st.builds(RecordFailure, st.integers(1, 10**6), st.text(max_size=30)), max_size=3).map(tuple))
diagnostics = st.builds(Diagnostic, st.sampled_from(list(Severity)), names, st.text(max_size=20),
                        st.none() | st.just(RNG), st.none(), st.none() | st.just("eval_suite.x"))
results = st.builds(
    SuiteResult, names, st.sampled_from(list(Status)), st.lists(metric_results, max_size=4).map(tuple),
    st.lists(assertion_results, max_size=3).map(tuple),
    st.builds(Digests, names, names, st.none() | names, st.none() | names), names, st.integers(0, 10**6),
    st.floats(0, 1e4), names, st.lists(diagnostics, max_size=2).map(tuple))


@settings(max_examples=100, deadline=None)
@given(results)
def test_result_json_round_trip(r: SuiteResult) -> None:
    import json

    doc = json.loads(json.dumps(r.to_json(), allow_nan=False))
    assert SuiteResult.from_json(doc) == r


def test_unknown_result_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported eval result format 99"):
        SuiteResult.from_json({"format": 99})
