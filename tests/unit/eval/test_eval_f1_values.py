"""F1, precision and recall values as a suite reports them, on a known confusion matrix (issue 22).

Macro, micro and weighted averages differ on an unbalanced matrix, so a suite that computes
the wrong one passes or fails the wrong gate: the values and verdicts are checked, not the
names. Worked by hand (10 records, classes a/b/c):

    expected a x6 -> predicted a x6
    expected b x2 -> b, a
    expected c x2 -> a, a

    class a: tp 6 fp 3 fn 0  precision 6/9  recall 1    f1 12/15 = 0.8
    class b: tp 1 fp 0 fn 1  precision 1    recall 1/2  f1 2/3
    class c: tp 0 fp 0 fn 2  precision 0    recall 0    f1 0
    macro f1 (0.8 + 2/3 + 0) / 3 = 0.4889   micro f1 7/10 = 0.7
    weighted f1 (6 * 0.8 + 2 * 2/3 + 2 * 0) / 10 = 0.6133
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest

from mlform.engine.eval import (
    Digests, InputValue, MetricSpec, Predictions, SuiteSpec, Threshold, dataset_digest, run_suite,
)

LABELS = ("a", "b", "c")
EXPECTED = ["a"] * 6 + ["b", "b", "c", "c"]
PREDICTED = ["a"] * 6 + ["b", "a", "a", "a"]


class Fixed:
    """A classifier answering PREDICTED[i] (one-hot) for record i."""

    def predict(self, inputs: Sequence[InputValue]) -> Predictions:
        rows = [int(np.asarray(x).reshape(-1)[0]) for x in inputs]
        onehot = [[1.0 if LABELS[k] == PREDICTED[r] else 0.0 for k in range(3)] for r in rows]
        return Predictions([{"probabilities": np.asarray(o)} for o in onehot], [1.0] * len(rows))


def _run(tmp_path: Path, metrics: dict[str, float]) -> dict[str, tuple[float, bool]]:
    path = tmp_path / "golden.jsonl"
    path.write_text("".join(json.dumps({"input": [i], "expected": e}) + "\n" for i, e in enumerate(EXPECTED)))
    spec = SuiteSpec("eval_suite.s", path, labels=LABELS,
                     metrics=tuple(MetricSpec(name, Threshold(min=m)) for name, m in metrics.items()))
    res = run_suite(spec, Fixed(), digests=Digests("sha256:model", dataset_digest(path)))
    assert res.records == 10
    assert len(res.metrics) == len(metrics)
    return {name: (m.value, m.passed) for name, m in zip(metrics, res.metrics)}


def _names(tmp_path: Path, metrics: list[str]) -> list[str]:
    path = tmp_path / "names.jsonl"
    path.write_text(json.dumps({"input": [0], "expected": "a"}) + "\n")
    spec = SuiteSpec("eval_suite.s", path, labels=LABELS, metrics=tuple(MetricSpec(n, Threshold(min=0)) for n in metrics))
    return [m.name for m in run_suite(spec, Fixed(), digests=Digests("sha256:m", dataset_digest(path))).metrics]


def test_f1_averages_on_an_unbalanced_matrix(tmp_path: Path) -> None:
    got = _run(tmp_path, {"f1": 0.6, "f1_macro": 0.6, "f1_micro": 0.6, "f1_weighted": 0.6})
    assert got["f1"][0] == pytest.approx((0.8 + 2 / 3) / 3)
    assert got["f1_macro"][0] == pytest.approx((0.8 + 2 / 3) / 3)
    assert got["f1_micro"][0] == pytest.approx(0.7)
    assert got["f1_weighted"][0] == pytest.approx((6 * 0.8 + 2 * 2 / 3) / 10)
    # the same gate, min 0.6: only the averages above it pass; f1_macro is displayed as f1
    assert _names(tmp_path, ["f1_macro", "f1_micro", "f1_weighted"]) == ["f1", "f1_micro", "f1_weighted"]
    assert [got[n][1] for n in ("f1", "f1_macro", "f1_micro", "f1_weighted")] == [False, False, True, True]


def test_precision_and_recall_averages_and_per_class_values(tmp_path: Path) -> None:
    got = _run(tmp_path, {"precision": 0.5, "precision_micro": 0.5, "precision_weighted": 0.5,
                          "recall": 0.5, "recall_micro": 0.5, "recall_weighted": 0.5,
                          'f1["a"]': 0.8, 'f1["b"]': 0.7, 'recall["b"]': 0.5, 'precision["c"]': 0.0})
    assert got["precision"][0] == pytest.approx((6 / 9 + 1 + 0) / 3)
    assert got["precision_micro"][0] == pytest.approx(0.7)
    assert got["precision_weighted"][0] == pytest.approx((6 * 6 / 9 + 2 * 1 + 0) / 10)
    assert got["recall"][0] == pytest.approx((1 + 0.5 + 0) / 3)
    assert got["recall_micro"][0] == pytest.approx(0.7)
    assert got["recall_weighted"][0] == pytest.approx(0.7)  # weighted recall is accuracy
    assert got['f1["a"]'] == (pytest.approx(0.8), True)  # at the limit passes
    assert got['f1["b"]'] == (pytest.approx(2 / 3), False)
    assert got['recall["b"]'] == (pytest.approx(0.5), True)
    assert got['precision["c"]'] == (0.0, True)  # c never predicted: 0/0 is 0
    assert got["recall"][1] is True and got["precision"][1] is True
