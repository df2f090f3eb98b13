"""Metric names and the arithmetic behind them.

Names are parsed from the strings a user writes in ``metric "..." {}``:
``accuracy``, ``precision`` / ``recall`` / ``f1`` (macro), their ``_macro``,
``_micro`` and ``_weighted`` variants, per-class ``f1["label"]`` (also
``precision[...]`` and ``recall[...]``; an integer selects a class index),
``mae``, ``rmse``, ``pNN_latency_ms`` (any integer percentile 0-100; p50,
p95 and p99 are the usual ones) and ``pass_rate``.

Classification scores follow scikit-learn's definitions with
``zero_division=0``: a precision, recall or F1 whose denominator is zero
counts as 0. Averages run over the classes that occur in the expected or the
predicted values (scikit-learn's behaviour when ``labels`` is not passed), so a
declared label that never occurs does not drag a macro average down; asked for
by name (``f1["never_seen"]``) it scores 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum
from typing import Sequence

import numpy as np
import numpy.typing as npt

from ..diagnostics import DiagnosticsError, did_you_mean, error

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class MetricKind(str, Enum):
    """What a metric needs from a run: which data it is computed from."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    LATENCY = "latency"
    ASSERTION = "assertion"


class Average(str, Enum):
    """How per-class scores are combined into one number."""

    MACRO = "macro"
    MICRO = "micro"
    WEIGHTED = "weighted"


_CLASS_BASES = ("precision", "recall", "f1")
_SIMPLE = {
    "accuracy": MetricKind.CLASSIFICATION,
    "mae": MetricKind.REGRESSION,
    "rmse": MetricKind.REGRESSION,
    "pass_rate": MetricKind.ASSERTION,
}
_CLASS_RE = re.compile(r"^(precision|recall|f1)(?:_(macro|micro|weighted))?$")
_PER_CLASS_RE = re.compile(r'^(precision|recall|f1)\s*\[\s*(?:"((?:[^"\\]|\\.)*)"|(\d+))\s*\]$')
_LATENCY_RE = re.compile(r"^p(\d{1,3})_latency_ms$")

#: Every spelling accepted, for error messages and did-you-mean.
KNOWN_METRICS: tuple[str, ...] = (
    "accuracy",
    *_CLASS_BASES,
    *(f"{b}_{a.value}" for b in _CLASS_BASES for a in Average),
    "mae",
    "rmse",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "pass_rate",
)


class MetricNameError(DiagnosticsError):
    """A metric name that mlform does not know; carries one diagnostic."""


@dataclass(frozen=True, slots=True)
class MetricName:
    """A parsed metric name.

    ``average`` is set for precision/recall/f1 over all classes; ``label`` (a
    label string, or a class index) for the per-class form; ``percentile`` for
    latency metrics.
    """

    base: str
    kind: MetricKind
    average: Average | None = None
    label: str | int | None = None
    percentile: int | None = None

    def __str__(self) -> str:
        if self.label is not None:
            if isinstance(self.label, int):
                return f"{self.base}[{self.label}]"
            escaped = self.label.replace("\\", "\\\\").replace('"', '\\"')
            return f'{self.base}["{escaped}"]'
        if self.average is not None and self.average is not Average.MACRO:
            return f"{self.base}_{self.average.value}"
        return self.base


def parse_metric_name(text: str) -> MetricName:
    """Parse ``text`` into a :class:`MetricName`.

    Raises :class:`MetricNameError` (a ``DiagnosticsError``) naming the valid
    metrics and the closest one when ``text`` is not a metric.
    """
    name = text.strip()
    if name in _SIMPLE:
        return MetricName(name, _SIMPLE[name])
    m = _CLASS_RE.match(name)
    if m:
        return MetricName(m.group(1), MetricKind.CLASSIFICATION, Average(m.group(2) or "macro"))
    m = _PER_CLASS_RE.match(name)
    if m:
        label: str | int
        if m.group(3) is not None:
            label = int(m.group(3))
        else:
            label = re.sub(r"\\(.)", r"\1", m.group(2))
        return MetricName(m.group(1), MetricKind.CLASSIFICATION, label=label)
    m = _LATENCY_RE.match(name)
    if m and 0 <= int(m.group(1)) <= 100:
        q = int(m.group(1))
        return MetricName(f"p{q}_latency_ms", MetricKind.LATENCY, percentile=q)
    hint = did_you_mean(name, KNOWN_METRICS)
    if not hint and "[" in name:
        hint = ' Per-class metrics are written f1["label"], precision["label"] or recall["label"].'
    raise MetricNameError(error(
        f'Unknown metric "{text}"',
        f"Valid metrics: {', '.join(KNOWN_METRICS)}, per-class f1[\"label\"] and "
        f"pNN_latency_ms.{hint}",
    ))


# --- classification -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassCounts:
    """Per-class true positives, false positives, false negatives and support."""

    classes: IntArray
    tp: IntArray
    fp: IntArray
    fn: IntArray

    @property
    def support(self) -> IntArray:
        return self.tp + self.fn


def class_counts(y_true: Sequence[int] | IntArray, y_pred: Sequence[int] | IntArray,
                 classes: Sequence[int] | None = None) -> ClassCounts:
    """Count tp/fp/fn for ``classes`` (default: every class in either array)."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_pred has {p.size}")
    cls = np.asarray(sorted(set(t.tolist()) | set(p.tolist())) if classes is None else classes,
                     dtype=np.int64)
    tp = np.array([np.sum((t == c) & (p == c)) for c in cls], dtype=np.int64)
    fp = np.array([np.sum((t != c) & (p == c)) for c in cls], dtype=np.int64)
    fn = np.array([np.sum((t == c) & (p != c)) for c in cls], dtype=np.int64)
    return ClassCounts(cls, tp, fp, fn)


def _ratio(num: IntArray | FloatArray, den: IntArray | FloatArray) -> FloatArray:
    """num / den elementwise, 0 where den == 0 (scikit-learn zero_division=0)."""
    num_f = np.asarray(num, dtype=np.float64)
    den_f = np.asarray(den, dtype=np.float64)
    out = np.zeros_like(num_f)
    np.divide(num_f, den_f, out=out, where=den_f != 0)
    return out


def _per_class(c: ClassCounts, base: str) -> FloatArray:
    if base == "precision":
        return _ratio(c.tp, c.tp + c.fp)
    if base == "recall":
        return _ratio(c.tp, c.tp + c.fn)
    if base == "f1":
        return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn)
    raise ValueError(f"not a per-class score: {base}")


def accuracy(y_true: Sequence[int] | IntArray, y_pred: Sequence[int] | IntArray) -> float:
    """Fraction of records whose predicted class equals the expected class."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.size == 0:
        return 0.0
    return float(np.mean(t == p))


def class_score(base: str, y_true: Sequence[int] | IntArray, y_pred: Sequence[int] | IntArray,
                average: Average = Average.MACRO) -> float:
    """``precision``, ``recall`` or ``f1`` averaged as ``average`` says."""
    c = class_counts(y_true, y_pred)
    if c.classes.size == 0:
        return 0.0
    if average is Average.MICRO:
        tp, fp, fn = c.tp.sum(), c.fp.sum(), c.fn.sum()
        micro = ClassCounts(c.classes[:1], np.array([tp]), np.array([fp]), np.array([fn]))
        return float(_per_class(micro, base)[0])
    scores = _per_class(c, base)
    if average is Average.WEIGHTED:
        total = c.support.sum()
        return float(np.sum(scores * c.support) / total) if total else 0.0
    return float(np.mean(scores))


def class_score_for(base: str, y_true: Sequence[int] | IntArray, y_pred: Sequence[int] | IntArray,
                    cls: int) -> float:
    """``precision``, ``recall`` or ``f1`` of one class (0 when it never occurs)."""
    return float(_per_class(class_counts(y_true, y_pred, [cls]), base)[0])


def predicted_class(output: npt.NDArray[np.generic]) -> int:
    """The class a classifier output stands for.

    More than one value: the argmax. One integer value: that class index (a
    label output). One float value: a probability of class 1, thresholded at
    0.5 (``>= 0.5`` is class 1).
    """
    flat = np.asarray(output).reshape(-1)
    if flat.size == 0:
        raise ValueError("the model returned an empty output")
    if flat.size > 1:
        return int(np.argmax(flat))
    value = flat[0]
    if np.issubdtype(flat.dtype, np.integer) or np.issubdtype(flat.dtype, np.bool_):
        return int(value)
    return 1 if float(value) >= 0.5 else 0


# --- regression and latency -----------------------------------------------


def _as_2d(values: Sequence[float] | FloatArray) -> FloatArray:
    a = np.asarray(values, dtype=np.float64)
    return a.reshape(a.shape[0], -1) if a.ndim != 1 else a.reshape(-1, 1)


def mae(y_true: Sequence[float] | FloatArray, y_pred: Sequence[float] | FloatArray) -> float:
    """Mean absolute error; several outputs per record are averaged uniformly."""
    t, p = _as_2d(y_true), _as_2d(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: expected {t.shape}, predicted {p.shape}")
    if t.size == 0:
        return 0.0
    return float(np.mean(np.mean(np.abs(t - p), axis=0)))


def rmse(y_true: Sequence[float] | FloatArray, y_pred: Sequence[float] | FloatArray) -> float:
    """Root mean squared error, per output column then averaged (as scikit-learn)."""
    t, p = _as_2d(y_true), _as_2d(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: expected {t.shape}, predicted {p.shape}")
    if t.size == 0:
        return 0.0
    return float(np.mean(np.sqrt(np.mean((t - p) ** 2, axis=0))))


def latency_percentile(latencies_ms: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation, numpy's default)."""
    if not latencies_ms:
        return math.nan
    return float(np.percentile(np.asarray(latencies_ms, dtype=np.float64), q))


# --- evaluation over a run ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observations:
    """What a run produced, in the forms the metrics need.

    Arrays that a suite does not use may be empty.
    """

    class_true: IntArray
    class_pred: IntArray
    num_true: FloatArray
    num_pred: FloatArray
    latencies_ms: tuple[float, ...]
    record_passed: tuple[bool, ...]


def evaluate_metric(name: MetricName, obs: Observations, labels: Sequence[str] | None = None) -> float:
    """The value of ``name`` over ``obs``.

    ``labels`` maps a per-class label string to its class index. Raises
    ``ValueError`` for a label that is not declared (``SuiteSpec.validate``
    reports that earlier, with a source range).
    """
    if name.kind is MetricKind.LATENCY:
        assert name.percentile is not None
        return latency_percentile(obs.latencies_ms, name.percentile)
    if name.kind is MetricKind.ASSERTION:
        return float(np.mean(obs.record_passed)) if obs.record_passed else 0.0
    if name.kind is MetricKind.REGRESSION:
        return mae(obs.num_true, obs.num_pred) if name.base == "mae" else rmse(obs.num_true, obs.num_pred)
    if name.base == "accuracy":
        return accuracy(obs.class_true, obs.class_pred)
    if name.label is not None:
        return class_score_for(name.base, obs.class_true, obs.class_pred,
                               resolve_class(name.label, labels))
    assert name.average is not None
    return class_score(name.base, obs.class_true, obs.class_pred, name.average)


def resolve_class(label: str | int, labels: Sequence[str] | None) -> int:
    """The class index for a per-class label (an index passes through)."""
    if isinstance(label, int):
        return label
    if labels is not None and label in labels:
        return list(labels).index(label)
    if labels is None and label.isdigit():
        return int(label)
    raise ValueError(f'unknown class label "{label}"')
