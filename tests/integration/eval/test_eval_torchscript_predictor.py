"""The in-process TorchScript predictor on a small real scripted module."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mlform.engine.eval import (
    Digests,
    MetricSpec,
    PredictorError,
    Status,
    SuiteSpec,
    Threshold,
    TorchScriptPredictor,
    dataset_digest,
    run_suite,
)
from tests.fixtures.evals import write_jsonl

torch = pytest.importorskip("torch")  # module level: TorchScript resolves annotations from globals


# TORCHSCRIPT_DEPRECATED: torch 2.x deprecates TorchScript; mlform still reads it (model
# format "torchscript", docs/language.md), so building the test model silences exactly those two warnings.


@pytest.fixture(scope="module")
def torch_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    class Regressor(torch.nn.Module):  # type: ignore[name-defined, misc]
        def forward(self, x: "torch.Tensor") -> tuple["torch.Tensor", "torch.Tensor"]:
            return x.sum(dim=1, keepdim=True) * 2.0, x.mean(dim=1)

    path = tmp_path_factory.mktemp("models") / "reg.pt"
    with warnings.catch_warnings():  # see TORCHSCRIPT_DEPRECATED
        warnings.filterwarnings("ignore", r"`torch\.jit\.(script|save)` is deprecated", DeprecationWarning)
        torch.jit.save(torch.jit.script(Regressor()), str(path))
    return path


def test_torchscript_suite(torch_model: Path, tmp_path: Path) -> None:
    pred = TorchScriptPredictor(torch_model)
    out = pred.predict([np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    assert [o["output_0"].tolist() for o in out.outputs] == [[6.0], [14.0]]  # type: ignore[index]
    assert out.outputs[0]["output_1"].dtype == np.float32  # type: ignore[index]
    path = write_jsonl(tmp_path / "reg.jsonl", [{"input": [1, 2], "expected": 6}, {"input": [3, 4], "expected": 15}])
    spec = SuiteSpec("eval_suite.reg", path, batch_size=2, metrics=(
        MetricSpec("mae", Threshold(max=0.4)), MetricSpec("rmse", Threshold(max=0.5))))
    digests = Digests("sha256:m", dataset_digest(path))
    # JSON integers arrive as int64, as torch.tensor([1, 2]) would; this module needs floats.
    failed = run_suite(spec, pred, digests=digests)
    assert failed.status is Status.ERROR
    assert failed.failures() == ["The TorchScript model failed on a batch"]
    res = run_suite(spec, TorchScriptPredictor(torch_model, dtypes={"input": "float32"}), digests=digests)
    assert res.status is Status.FAILED
    assert [m.value for m in res.metrics] == pytest.approx([0.5, 0.5 ** 0.5])
    assert res.failures() == ["mae = 0.5, required <= 0.4", "rmse = 0.7071, required <= 0.5"]


def test_torchscript_load_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(PredictorError, match="Cannot load TorchScript model"):
        TorchScriptPredictor(bad)
