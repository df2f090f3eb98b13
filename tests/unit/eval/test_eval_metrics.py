"""Metrics: hand-computed values, and agreement with scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from mlform.engine.eval import (
    Average,
    MetricKind,
    MetricNameError,
    accuracy,
    class_score,
    class_score_for,
    latency_percentile,
    mae,
    parse_metric_name,
    predicted_class,
    rmse,
)

# y_true / y_pred worked by hand below.
T = [0, 0, 1, 1, 2, 2, 2]
P = [0, 1, 1, 1, 2, 0, 0]
# class 0: tp=1 fp=2 fn=1 -> p=1/3 r=1/2 f1=2/5
# class 1: tp=2 fp=1 fn=0 -> p=2/3 r=1   f1=4/5
# class 2: tp=1 fp=0 fn=2 -> p=1   r=1/3 f1=1/2


def test_hand_computed_classification() -> None:
    assert accuracy(T, P) == pytest.approx(4 / 7)
    assert class_score("precision", T, P) == pytest.approx((1 / 3 + 2 / 3 + 1) / 3)
    assert class_score("recall", T, P) == pytest.approx((1 / 2 + 1 + 1 / 3) / 3)
    assert class_score("f1", T, P) == pytest.approx((2 / 5 + 4 / 5 + 1 / 2) / 3)
    assert class_score("f1", T, P, Average.MICRO) == pytest.approx(4 / 7)
    # supports 2, 2, 3
    assert class_score("f1", T, P, Average.WEIGHTED) == pytest.approx((2 * 2 / 5 + 2 * 4 / 5 + 3 * 1 / 2) / 7)
    assert class_score_for("precision", T, P, 0) == pytest.approx(1 / 3)
    assert class_score_for("recall", T, P, 2) == pytest.approx(1 / 3)
    assert class_score_for("f1", T, P, 1) == pytest.approx(4 / 5)


def test_zero_division_is_zero() -> None:
    # class 1 is never predicted: precision 0/0 -> 0; class 5 never occurs at all -> 0.
    assert class_score_for("precision", [0, 1], [0, 0], 1) == 0.0
    assert class_score_for("f1", [0, 1], [0, 0], 5) == 0.0
    assert class_score("precision", [0, 1], [0, 0]) == pytest.approx(0.25)


def test_hand_computed_regression_and_latency() -> None:
    assert mae([1.0, 2.0, 3.0], [1.5, 2.0, 1.0]) == pytest.approx((0.5 + 0 + 2) / 3)
    assert rmse([1.0, 2.0, 3.0], [1.5, 2.0, 1.0]) == pytest.approx(math.sqrt((0.25 + 0 + 4) / 3))
    assert latency_percentile([1, 2, 3, 4, 5], 50) == 3.0
    assert latency_percentile([10, 20], 95) == pytest.approx(19.5)
    assert math.isnan(latency_percentile([], 99))


def test_predicted_class_rules() -> None:
    assert predicted_class(np.array([0.1, 0.7, 0.2])) == 1
    assert predicted_class(np.array([[0.1, 0.7, 0.9]])) == 2
    assert predicted_class(np.array([0.5], dtype=np.float32)) == 1
    assert predicted_class(np.array(0.49)) == 0
    assert predicted_class(np.array([3], dtype=np.int64)) == 3  # a label output, not a probability
    with pytest.raises(ValueError, match="empty output"):
        predicted_class(np.array([]))


@pytest.mark.parametrize(("text", "expected"), [
    ("accuracy", "accuracy"), ("f1", "f1"), ("f1_macro", "f1"), ("recall_micro", "recall_micro"),
    ("precision_weighted", "precision_weighted"), ('f1["positive"]', 'f1["positive"]'),
    ('recall[ "a \\"b" ]', 'recall["a \\"b"]'), ("precision[2]", "precision[2]"),
    ("p95_latency_ms", "p95_latency_ms"), ("p90_latency_ms", "p90_latency_ms"), ("pass_rate", "pass_rate"),
])
def test_parse_metric_names(text: str, expected: str) -> None:
    assert str(parse_metric_name(text)) == expected


def test_parsed_name_parts() -> None:
    n = parse_metric_name('f1["positive"]')
    assert (n.base, n.kind, n.label, n.average) == ("f1", MetricKind.CLASSIFICATION, "positive", None)
    assert parse_metric_name("p99_latency_ms").percentile == 99
    assert parse_metric_name("rmse").kind is MetricKind.REGRESSION


def test_unknown_metric_suggests_the_closest() -> None:
    with pytest.raises(MetricNameError, match='Unknown metric "f1_weigthed"') as e:
        parse_metric_name("f1_weigthed")
    assert 'Did you mean "f1_weighted"?' in e.value.diagnostics.errors[0].detail
    with pytest.raises(MetricNameError, match="Unknown metric") as e:
        parse_metric_name("f1[positive]")
    assert 'f1["label"]' in e.value.diagnostics.errors[0].detail
    with pytest.raises(MetricNameError, match="p101_latency_ms"):
        parse_metric_name("p101_latency_ms")


# --- agreement with scikit-learn -------------------------------------------

def _sk(base: str, t: list[int], p: list[int], average: str) -> float:
    fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[base]
    return float(fn(t, p, average=average, zero_division=0))


FIXED = [([0, 1, 1, 0, 1], [0, 1, 0, 0, 1]), (T, P), ([3, 3, 1, 0], [1, 2, 2, 2]), ([2, 2], [2, 2])]


@pytest.mark.parametrize(("t", "p"), FIXED)
@pytest.mark.parametrize("base", ["precision", "recall", "f1"])
@pytest.mark.parametrize("average", list(Average))
def test_matches_sklearn_fixed(t: list[int], p: list[int], base: str, average: Average) -> None:
    assert class_score(base, t, p, average) == pytest.approx(_sk(base, t, p, average.value))


labels_pair = st.integers(min_value=1, max_value=60).flatmap(
    lambda n: st.tuples(st.lists(st.integers(0, 5), min_size=n, max_size=n),
                        st.lists(st.integers(0, 5), min_size=n, max_size=n)))


@settings(max_examples=80, deadline=None)
@given(labels_pair)
def test_matches_sklearn_random(pair: tuple[list[int], list[int]]) -> None:
    t, p = pair
    assert accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
    for average in Average:
        sk = skm.precision_recall_fscore_support(t, p, average=average.value, zero_division=0)
        for base, want in zip(("precision", "recall", "f1"), sk[:3]):
            assert class_score(base, t, p, average) == pytest.approx(want)
    per = skm.precision_recall_fscore_support(t, p, labels=list(range(6)), average=None, zero_division=0)
    for base, want in zip(("precision", "recall", "f1"), per[:3]):
        for c in range(6):
            assert class_score_for(base, t, p, c) == pytest.approx(want[c])


floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.lists(floats, min_size=n, max_size=n),
                                                      st.lists(floats, min_size=n, max_size=n))))
def test_regression_matches_sklearn(pair: tuple[list[float], list[float]]) -> None:
    t, p = pair
    assert mae(t, p) == pytest.approx(skm.mean_absolute_error(t, p), abs=1e-9)
    assert rmse(t, p) == pytest.approx(skm.root_mean_squared_error(t, p), abs=1e-9)


def test_multi_output_regression_matches_sklearn() -> None:
    t = np.array([[1.0, 2.0], [3.0, 5.0], [0.0, -1.0]])
    p = np.array([[1.5, 2.0], [2.0, 7.0], [0.0, 0.0]])
    assert mae(t, p) == pytest.approx(skm.mean_absolute_error(t, p))
    assert rmse(t, p) == pytest.approx(skm.root_mean_squared_error(t, p))
