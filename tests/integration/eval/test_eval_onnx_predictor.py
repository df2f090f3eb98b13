"""The in-process ONNX predictor on a small real model built with onnx.helper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlform.engine.eval import (
    Digests,
    MetricSpec,
    OnnxPredictor,
    PredictorError,
    Status,
    SuiteSpec,
    Threshold,
    dataset_digest,
    run_suite,
)
from tests.fixtures.evals import iris_probabilities, make_onnx_classifier, write_jsonl

X = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [0.5, 0.2, 0.1, 0.0]])


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_onnx_classifier(tmp_path_factory.mktemp("models") / "iris.onnx")


def test_onnx_outputs_and_dtype_cast(onnx_model: Path) -> None:
    pred = OnnxPredictor(onnx_model)
    out = pred.predict(list(X))  # float64 records are cast to the model's float32
    probs = np.stack([o["probabilities"] for o in out.outputs])  # type: ignore[index]
    assert np.allclose(probs, iris_probabilities(X), atol=1e-6)
    assert [int(o["label"]) for o in out.outputs] == iris_probabilities(X).argmax(axis=1).tolist()  # type: ignore[index]
    # Records that already carry a leading batch dimension of 1 are concatenated, not stacked.
    same = pred.predict([x.reshape(1, 4) for x in X])
    assert np.allclose(np.stack([o["probabilities"] for o in same.outputs]), probs)  # type: ignore[index]


def test_onnx_input_mistakes(onnx_model: Path) -> None:
    pred = OnnxPredictor(onnx_model)
    with pytest.raises(PredictorError, match='The model has no input "xs"') as e:
        pred.predict([{"xs": X[0]}])
    assert 'Did you mean "x"?' in e.value.diagnostics.errors[0].detail
    with pytest.raises(PredictorError, match='Input "x" holds several examples in one record'):
        pred.predict([X])
    with pytest.raises(PredictorError, match='Input "x" has the wrong rank'):
        pred.predict([X.reshape(1, 4, 4)])
    with pytest.raises(PredictorError, match="The ONNX model failed on a batch"):
        pred.predict([np.zeros(5)])
    with pytest.raises(PredictorError, match="Cannot load ONNX model"):
        OnnxPredictor(onnx_model.parent / "missing.onnx")


@pytest.mark.parametrize("output", [None, "label"])
def test_onnx_suite(onnx_model: Path, tmp_path: Path, output: str | None) -> None:
    want = iris_probabilities(X).argmax(axis=1)
    path = write_jsonl(tmp_path / "golden.jsonl",
                       [{"input": x.tolist(), "expected": int(c)} for x, c in zip(X, want)])
    spec = SuiteSpec("eval_suite.golden", path, output=output, metrics=(
        MetricSpec("accuracy", Threshold(min=1.0)), MetricSpec("f1_weighted", Threshold(min=1.0)),
        MetricSpec("p99_latency_ms", Threshold(min=0))))  # computed, not timed
    res = run_suite(spec, OnnxPredictor(onnx_model), digests=Digests("sha256:m", dataset_digest(path)))
    assert res.status is Status.PASSED, res.failures()
    assert res.metrics[0].value == 1.0
