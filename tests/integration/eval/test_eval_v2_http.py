"""Predictors over HTTP against a real (fake-model) V2 server on 127.0.0.1."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from mlform.engine.eval import (
    AssertionKind,
    AssertionSpec,
    Digests,
    MetricSpec,
    PredictorError,
    PromptSpec,
    Status,
    SuiteSpec,
    Threshold,
    V2Predictor,
    V2TextGenerator,
    dataset_digest,
    run_suite,
    v2_judge,
)
from tests.fixtures.evals import iris_probabilities, write_jsonl

X = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [2.0, 1.0, 0.0, 0.0]])


def test_tensor_predictor_batches_and_versions(v2_server: str) -> None:
    for version in (None, "2"):
        pred = V2Predictor(v2_server, "iris", version)
        try:
            out = pred.predict(list(X))
        finally:
            pred.close()
        got = np.stack([o["probabilities"] for o in out.outputs])  # type: ignore[index]
        assert np.allclose(got, iris_probabilities(X), atol=1e-6)
        assert len(out.latencies_ms) == 4 and out.latencies_ms[0] == out.latencies_ms[3] > 0


def test_named_inputs(v2_server: str) -> None:
    with closing(V2Predictor(v2_server, "pair")) as pred:
        out = pred.predict([{"a": np.array([1, 2]), "b": np.array([10, 20])},
                            {"b": np.array([0, 1]), "a": np.array([5, 5])}])
        assert [o["sum"].tolist() for o in out.outputs] == [[11, 22], [5, 6]]  # type: ignore[index]
        with pytest.raises(PredictorError, match='The model has no input "c"') as e:
            pred.predict([{"a": np.array([1, 2]), "c": np.array([1, 2])}])
        assert "Its inputs: a, b." in e.value.diagnostics.errors[0].detail
        with pytest.raises(PredictorError, match="The model has several inputs"):
            pred.predict([np.array([1, 2])])


def test_classification_suite_over_http(v2_server: str, tmp_path: Path) -> None:
    labels = ("setosa", "versicolor", "virginica")
    want = iris_probabilities(X).argmax(axis=1)
    rows = [{"input": x.tolist(), "expected": labels[int(c)]} for x, c in zip(X, want)]
    rows[-1]["expected"] = labels[(int(want[-1]) + 1) % 3]  # one wrong
    path = write_jsonl(tmp_path / "golden.jsonl", rows)
    spec = SuiteSpec("eval_suite.golden", path, labels=labels, batch_size=2,
                     metrics=(MetricSpec("accuracy", Threshold(min=0.7)), MetricSpec("f1", Threshold(min=0.9))))
    with closing(V2Predictor(v2_server, "iris")) as pred:
        res = run_suite(spec, pred, digests=Digests("sha256:m", dataset_digest(path)))
    assert res.status is Status.FAILED
    assert res.metrics[0].value == 0.75 and res.metrics[0].passed and not res.metrics[1].passed


@pytest.mark.parametrize(("model", "url_kind", "summary", "detail"), [
    ("iris", "down", "Cannot reach the model server at", "Is the endpoint running?"),
    ("nope", "up", 'Model "nope" not found at', "model nope (version None) is not loaded"),
    ("oom", "up", "The model server answered HTTP 500", "CUDA out of memory"),
    ("broken", "up", "The model server returned a malformed response", 'It has no "outputs" list.'),
])
def test_server_failures_are_diagnostics(v2_server: str, free_port_url: str, model: str, url_kind: str,
                                         summary: str, detail: str) -> None:
    with closing(V2Predictor(v2_server if url_kind == "up" else free_port_url, model)) as pred, \
            pytest.raises(PredictorError, match=summary) as e:
        pred.predict([X[0]])
    assert detail in e.value.diagnostics.errors[0].detail


def test_unknown_version_is_not_found(v2_server: str) -> None:
    with closing(V2Predictor(v2_server, "iris", "7")) as pred, \
            pytest.raises(PredictorError, match='Model "iris" not found'):
        pred.predict([X[0]])


def test_text_generator_renders_prompts(v2_server: str) -> None:
    prompt = PromptSpec("Summarize in {{ n }} words: {{ text }}", ("text", "n"), {"shout": True})
    with closing(V2TextGenerator(v2_server, "echo-llm", prompt=prompt)) as gen:
        out = gen.predict([{"text": "a long story", "n": 3}, {"text": "x", "n": 1}])
    assert out.outputs == ["ECHO: SUMMARIZE IN 3 WORDS: A LONG STORY", "ECHO: SUMMARIZE IN 1 WORDS: X"]
    with closing(V2TextGenerator(v2_server, "echo-llm")) as plain:
        assert plain.predict(["hi"]).outputs == ["echo: hi"]
        with pytest.raises(PredictorError, match="Cannot render the prompt"):
            plain.predict([{"text": "x"}])


def test_prompt_suite_with_judge_over_http(v2_server: str, tmp_path: Path) -> None:
    prompt = PromptSpec("Reply to: {{ message }}", ("message",))
    path = write_jsonl(tmp_path / "chat.jsonl", [
        {"input": {"message": "thank you"}, "expected": "echo: Reply to: thank you"},
        {"input": "please help", "expected": "echo: Reply to: please help"},
        {"input": "go away"},
        {"input": "confuse me"},
    ])
    spec = SuiteSpec("eval_suite.chat", path, prompt=prompt, assertions=(
        AssertionSpec(AssertionKind.REGEX, value=r"^echo: Reply to: "),
        AssertionSpec(AssertionKind.LLM_JUDGE, rubric="The reply is polite.", min_pass_rate=0.5),
    ), metrics=(MetricSpec("pass_rate", Threshold(min=0.75)),))
    with closing(V2TextGenerator(v2_server, "echo-llm", prompt=prompt)) as gen, v2_judge(v2_server, "judge") as judge:
        res = run_suite(spec, gen, digests=Digests("sha256:m", dataset_digest(path), "sha256:p", "sha256:j"),
                        judge=judge)
    regex, judge = res.assertions
    assert regex.pass_rate == 1.0
    assert (judge.passed_count, judge.passed) == (2, True)
    assert [(f.line, f.reason) for f in judge.failures] == [
        (3, "judge verdict FAIL"), (4, "malformed judge verdict (no VERDICT line): 'Hmm, hard to say.'")]
    assert res.metrics[0].value == 0.5 and res.status is Status.FAILED
    assert res.failures() == ["pass_rate = 0.5, required >= 0.75"]


def test_judge_endpoint_down_is_an_error_result(v2_server: str, free_port_url: str, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"input": "hi"}])
    spec = SuiteSpec("eval_suite.j", path, assertions=(AssertionSpec(AssertionKind.LLM_JUDGE, rubric="r"),))
    with closing(V2TextGenerator(v2_server, "echo-llm")) as gen, v2_judge(free_port_url, "judge") as judge:
        res = run_suite(spec, gen, digests=Digests("sha256:m", dataset_digest(path)), judge=judge)
    assert res.status is Status.ERROR
    assert res.failures()[0].startswith("Cannot reach the model server at http://127.0.0.1:")
