"""Runners: metadata, numbers, device choice and load errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlform.providers.server.runners import (
    InferenceInputError, RunnerLoadError, TensorSpec, example_feed, load_runner, onnx_providers,
    parse_gpus,
)


def test_onnx_runner_metadata_and_numbers(onnx_classifier):
    runner = load_runner(onnx_classifier.path, "onnx", gpus="none")
    assert runner.platform == "onnxruntime_onnx"
    assert runner.device == "cpu"
    assert runner.inputs == (TensorSpec("features", "FP32", (-1, 4)),)
    assert runner.outputs == (TensorSpec("probabilities", "FP32", (-1, 3)),)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    out = runner.run({"features": x})
    np.testing.assert_allclose(out["probabilities"], onnx_classifier.predict(x), rtol=1e-5)


def test_onnx_runner_rejects_wrong_shape_as_input_error(onnx_classifier):
    runner = load_runner(onnx_classifier.path, "onnx", gpus="none")
    with pytest.raises(InferenceInputError, match="features|dimension|Got"):
        runner.run({"features": np.zeros((1, 7), dtype=np.float32)})


def test_torchscript_runner_with_metadata(torchscript_model):
    runner = load_runner(torchscript_model.path, "torchscript", gpus="none")
    assert runner.platform == "pytorch_torchscript"
    assert runner.device == "cpu"
    assert runner.inputs == (TensorSpec("features", "FP32", (-1, 4)),)
    assert [o.name for o in runner.outputs] == ["probabilities"]
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    out = runner.run({"features": x})
    np.testing.assert_allclose(out["probabilities"], torchscript_model.predict(x), rtol=1e-5)


def test_torchscript_runner_without_metadata_uses_forward_signature(tmp_path):
    pytest.importorskip("torch")
    from tests.fixtures.models import write_torchscript_classifier

    art = write_torchscript_classifier(tmp_path / "m.pt", seed=3, with_metadata=False)
    runner = load_runner(art.path, "torchscript", gpus="none")
    assert [i.name for i in runner.inputs] == ["features"]
    assert [o.name for o in runner.outputs] == ["output__0"]
    x = np.ones((2, 4), dtype=np.float32)
    np.testing.assert_allclose(runner.run({"features": x})["output__0"], art.predict(x),
                               rtol=1e-5)


@pytest.mark.parametrize("gpus, available, expected", [
    ("none", ["CUDAExecutionProvider", "CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ("auto", ["CPUExecutionProvider"], ["CPUExecutionProvider"]),
    ("auto", ["CUDAExecutionProvider", "CPUExecutionProvider"],
     [("CUDAExecutionProvider", {"device_id": 0}), "CPUExecutionProvider"]),
    ([1, 0], ["CUDAExecutionProvider", "CPUExecutionProvider"],
     [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]),
])
def test_onnx_provider_choice(gpus, available, expected):
    assert onnx_providers(gpus, available) == expected


def test_explicit_gpu_without_cuda_is_an_error():
    with pytest.raises(RunnerLoadError, match="no CUDAExecutionProvider"):
        onnx_providers([0], ["CPUExecutionProvider"])


def test_bad_gpus_setting():
    with pytest.raises(RunnerLoadError, match='gpus must be "auto", "none"'):
        parse_gpus("all")


def test_load_errors(tmp_path, onnx_classifier):
    with pytest.raises(RunnerLoadError, match="does not exist"):
        load_runner(tmp_path / "nope.onnx", "onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(RunnerLoadError, match="cannot load ONNX model"):
        load_runner(junk, "onnx", gpus="none")
    with pytest.raises(RunnerLoadError, match="cannot serve format 'sklearn'"):
        load_runner(onnx_classifier.path, "sklearn")


def test_example_feed_fills_dynamic_dims(onnx_classifier):
    runner = load_runner(onnx_classifier.path, "onnx", gpus="none")
    feed = example_feed(runner, batch=2)
    assert feed["features"].shape == (2, 4) and feed["features"].dtype == np.float32


def test_quickstart_models_keep_their_accuracy():
    import json

    root = Path(__file__).resolve().parents[3] / "examples" / "quickstart"
    rows = [json.loads(line) for line in (root / "data" / "golden.jsonl").read_text().splitlines()]
    x = np.array([r["input"] for r in rows], dtype=np.float32)
    y = np.array([r["expected"] for r in rows])
    acc = {}
    for name in ("v1", "v2", "broken"):
        runner = load_runner(root / "models" / f"sentiment-{name}.onnx", "onnx", gpus="none")
        acc[name] = float((runner.run({"features": x})["probabilities"].argmax(1) == y).mean())
    assert acc["v1"] >= 0.9 and acc["v2"] > acc["v1"] and acc["broken"] < 0.6


def test_onnx_intra_op_spinning_is_off_unless_asked(onnx_classifier):
    from mlform.providers.server.runners import OnnxRunner

    key = "session.intra_op.allow_spinning"
    quiet = OnnxRunner(onnx_classifier.path, "none")
    assert quiet.session.get_session_options().get_session_config_entry(key) == "0"
    busy = OnnxRunner(onnx_classifier.path, "none", spinning=True, threads=1)
    with pytest.raises(Exception, match="allow_spinning"):  # not set: onnxruntime's default
        busy.session.get_session_options().get_session_config_entry(key)
    assert busy.session.get_session_options().intra_op_num_threads == 1
