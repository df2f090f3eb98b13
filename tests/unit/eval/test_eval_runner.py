"""The runner with in-memory predictors: verdicts, errors, progress, caching, table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pytest
from rich.console import Console

from mlform.engine.eval import (
    AssertionKind,
    AssertionSpec,
    Digests,
    InputValue,
    MetricSpec,
    Predictions,
    PredictorError,
    PromptSpec,
    Status,
    SuiteResult,
    SuiteSpec,
    Threshold,
    cache_key,
    dataset_digest,
    is_fresh,
    render_table,
    run_suite,
)
from mlform.engine.eval.prompt import prompt_text


class TableModel:
    """Returns the row of ``outputs`` named by each record's first input value."""

    def __init__(self, outputs: dict[str, list[list[float]]], latency_ms: float = 5.0) -> None:
        self.outputs = {k: np.asarray(v) for k, v in outputs.items()}
        self.latency_ms = latency_ms
        self.batches: list[int] = []

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        self.batches.append(len(inputs))
        rows = [int(np.asarray(x).reshape(-1)[0]) for x in inputs]
        return Predictions([{k: v[r] for k, v in self.outputs.items()} for r in rows],
                           [self.latency_ms + r for r in rows])


class EchoLLM:
    """Generates ``answer: <prompt>``."""

    def __init__(self, prompt: PromptSpec | None) -> None:
        self.prompt = prompt

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        return Predictions([f"answer: {prompt_text(self.prompt, x)}" for x in inputs],  # type: ignore[arg-type]
                           [1.0] * len(inputs))


def write(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def digests(path: Path) -> Digests:
    return Digests("sha256:model", dataset_digest(path))


@pytest.fixture
def clf(tmp_path: Path) -> tuple[SuiteSpec, TableModel]:
    # Records 0..5 map to model rows; labels neg/pos/neutral; 4 of 6 right.
    probs = [[0.9, 0.1, 0], [0.2, 0.8, 0], [0.1, 0.2, 0.7], [0.6, 0.4, 0], [0.3, 0.6, 0.1], [0.1, 0.1, 0.8]]
    rows = [{"input": [i], "expected": e} for i, e in enumerate(["neg", "pos", "neutral", "pos", "pos", "neg"])]
    path = write(tmp_path, rows)
    spec = SuiteSpec("eval_suite.golden", path, labels=("neg", "pos", "neutral"), metrics=(
        MetricSpec("accuracy", Threshold(min=0.6)),
        MetricSpec('f1["pos"]', Threshold(min=0.9)),
        MetricSpec("p95_latency_ms", Threshold(max=40)),
    ))
    return spec, TableModel({"probabilities": probs})


def test_classification_suite(clf: tuple[SuiteSpec, TableModel]) -> None:
    spec, model = clf
    res = run_suite(spec, model, digests=digests(spec.dataset))
    assert res.status is Status.FAILED and res.records == 6
    acc, f1_pos, p95 = res.metrics
    assert acc.value == pytest.approx(4 / 6) and acc.passed
    # pos: tp=2 (rec 1, 4), fp=0, fn=1 (rec 3) -> f1 = 4/5
    assert f1_pos.name == 'f1["pos"]' and f1_pos.value == pytest.approx(0.8) and not f1_pos.passed
    assert p95.value == pytest.approx(np.percentile([5, 6, 7, 8, 9, 10], 95)) and p95.passed
    assert res.failures() == ['f1["pos"] = 0.8, required >= 0.9']
    assert res.digests.dataset == dataset_digest(spec.dataset) and res.cache_key == cache_key(spec, res.digests)
    assert SuiteResult.from_json(json.loads(json.dumps(res.to_json()))) == res


def test_progress_and_batching(clf: tuple[SuiteSpec, TableModel]) -> None:
    spec, model = clf
    calls: list[tuple[int, int]] = []
    from dataclasses import replace
    run_suite(replace(spec, batch_size=4), model, digests=digests(spec.dataset),
              progress=lambda d, t: calls.append((d, t)), progress_every=2)
    assert model.batches == [4, 2]
    assert calls == [(0, 6), (4, 6), (6, 6)]


def test_batches_split_where_shapes_change(tmp_path: Path) -> None:
    path = write(tmp_path, [{"input": [0]}, {"input": [1]}, {"input": [0, 9]}, {"input": [1]}])
    model = TableModel({"y": [[1.0], [2.0]]})
    spec = SuiteSpec("eval_suite.s", path, batch_size=8, metrics=(MetricSpec("p50_latency_ms", Threshold(max=99)),))
    assert run_suite(spec, model, digests=digests(path)).passed
    assert model.batches == [2, 1, 1]


def test_regression_and_output_selection(tmp_path: Path) -> None:
    path = write(tmp_path, [{"input": [0], "expected": 1.0}, {"input": [1], "expected": 3.0}])
    model = TableModel({"label": [[7.0], [7.0]], "value": [[1.5], [2.0]]})
    spec = SuiteSpec("eval_suite.r", path, output="value", metrics=(
        MetricSpec("mae", Threshold(max=1)), MetricSpec("rmse", Threshold(max=0.5))))
    res = run_suite(spec, model, digests=digests(path))
    assert [m.value for m in res.metrics] == pytest.approx([0.75, (0.125 + 0.5) ** 0.5])
    assert [m.passed for m in res.metrics] == [True, False]
    from dataclasses import replace
    bad = run_suite(replace(spec, output="valeu"), model, digests=digests(path))
    assert bad.status is Status.ERROR
    assert 'has no output "valeu"' in bad.diagnostics[0].detail and 'Did you mean "value"' in bad.diagnostics[0].detail
    assert str(bad.diagnostics[0].range) == f"{path}:1:1"


def test_errors_become_error_results(clf: tuple[SuiteSpec, TableModel], tmp_path: Path) -> None:
    spec, model = clf
    stale = run_suite(spec, model, digests=Digests("sha256:model", "sha256:old"))
    assert stale.status is Status.ERROR and not stale.passed
    assert stale.failures() == ["The dataset changed while mlform was using it"]

    class Down:
        def predict(self, inputs: Sequence[InputValue]) -> Predictions:
            raise PredictorError("Cannot reach the model server at http://127.0.0.1:9", "Is it running?")

    down = run_suite(spec, Down(), digests=digests(spec.dataset))
    assert down.failures() == ["Cannot reach the model server at http://127.0.0.1:9"]
    assert down.diagnostics[0].address == "eval_suite.golden"

    class Short:
        def predict(self, inputs: Sequence[InputValue]) -> Predictions:
            return Predictions([], [])

    assert run_suite(spec, Short(), digests=digests(spec.dataset)).failures() == [
        "The predictor returned the wrong number of outputs"]

    bad = write(tmp_path, [{"input": [0], "expected": "pos"}, {"input": [[1]], "expected": "nope"}])
    res = run_suite(spec, model, digests=digests(bad))
    assert res.status is Status.ERROR
    assert [(str(d.range), d.summary) for d in res.diagnostics] == [
        (f"{bad}:2:2", "Inconsistent input types (line 2)")]

    from dataclasses import replace
    invalid = run_suite(replace(spec, metrics=(MetricSpec("acc", Threshold(min=1)),)), model,
                        digests=digests(spec.dataset))
    assert invalid.failures() == ['Unknown metric "acc"']


def test_text_suite_with_assertions(tmp_path: Path) -> None:
    prompt = PromptSpec("Capital of {{ country }}?", ("country",))
    path = write(tmp_path, [{"input": {"country": "France"}, "expected": "answer: Capital of France?"},
                            {"input": "Peru", "expected": "Lima"}])
    spec = SuiteSpec("eval_suite.llm", path, prompt=prompt, assertions=(
        AssertionSpec(AssertionKind.CONTAINS, value="Capital"),
        AssertionSpec(AssertionKind.EQUALS, min_pass_rate=0.5),
    ), metrics=(MetricSpec("pass_rate", Threshold(min=0.5)), MetricSpec("p99_latency_ms", Threshold(max=10))))
    res = run_suite(spec, EchoLLM(prompt), digests=digests(path))
    assert res.passed, res.failures()
    contains, equals = res.assertions
    assert contains.pass_rate == 1.0 and equals.pass_rate == 0.5
    assert equals.failures[0].line == 2
    assert res.metrics[0].value == 0.5


def test_cache_key_tracks_inputs(clf: tuple[SuiteSpec, TableModel], tmp_path: Path) -> None:
    from dataclasses import replace
    spec, model = clf
    d = digests(spec.dataset)
    key = cache_key(spec, d)
    assert key == cache_key(replace(spec, name="eval_suite.renamed", dataset=tmp_path / "copy.jsonl"), d)
    changed = [
        cache_key(spec, replace(d, target="sha256:other")),
        cache_key(spec, replace(d, dataset="sha256:other")),
        cache_key(spec, replace(d, prompt="sha256:p")),
        cache_key(replace(spec, metrics=spec.metrics[:1]), d),
        cache_key(replace(spec, metrics=(MetricSpec("accuracy", Threshold(min=0.7)),) + spec.metrics[1:]), d),
        cache_key(replace(spec, batch_size=2), d),
        cache_key(replace(spec, labels=("a", "b", "c")), d),
    ]
    assert key not in changed and len(set(changed)) == len(changed)
    res = run_suite(spec, model, digests=d)
    assert is_fresh(res, spec, d) and not is_fresh(res, spec, replace(d, target="sha256:new"))
    assert not is_fresh(None, spec, d)
    err = run_suite(spec, model, digests=replace(d, dataset="sha256:stale"))
    assert not is_fresh(err, spec, replace(d, dataset="sha256:stale"))


def test_render_table(clf: tuple[SuiteSpec, TableModel], tmp_path: Path) -> None:
    spec, model = clf
    ok = run_suite(spec, model, digests=digests(spec.dataset))
    err = run_suite(spec, model, digests=Digests("sha256:m", "sha256:x"))
    console = Console(record=True, width=140)
    console.print(render_table([ok, err]))
    text = console.export_text()
    assert "eval_suite.golden" in text and "accuracy" in text and "0.6667" in text and ">= 0.6" in text
    assert "FAIL" in text and "pass" in text and "ERROR" in text
    assert "The dataset changed while mlform was using it" in text
