"""Prometheus metrics at ``GET /metrics``, in the text exposition format (0.0.4).

Nothing is added to the request path for them. Request and failure counts are
the ring buffers' own running totals (:class:`~.stats.RequestLog`), and the
latency histogram is folded from the rings' samples: at each scrape, and each
time a quarter of a ring has been written (``RequestLog.on_quarter``), the
samples recorded since the last fold are bucketed with one numpy
``searchsorted``, so no sample is overwritten before it is counted, scraped or
not. Model executions are counted where the run time is folded anyway
(``ModelVersion.observe_run``); the adaptive batcher adds one bucket increment
per batch.

Names follow Prometheus' conventions (``_total`` counters, ``_seconds``
histograms) under an ``mlform_`` prefix, with the quantities Triton exports as
``nv_inference_*`` (docs/local-server.md has the correspondence): the figures
are not Triton's (latency here is decode + queue + run + encode, as in
``/mlform/stats``), so they do not borrow its names.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Iterable

import numpy as np

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: upper bounds of the request duration histogram, seconds
DURATION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: upper bounds of the batch size histogram (requests run in one model execution)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_BOUNDS_MS = np.asarray(DURATION_BUCKETS) * 1000.0


class VersionMetrics:
    """The cumulative histograms of one version (its counters are its ring's totals)."""

    __slots__ = ("log", "seen", "duration", "duration_sum", "batch", "batch_sum",
                 "batch_runs")

    def __init__(self, log: Any) -> None:
        self.log = log
        self.seen = 0  # requests of the ring already folded into ``duration``
        self.duration = np.zeros(len(DURATION_BUCKETS) + 1, dtype=np.int64)  # last: +Inf
        self.duration_sum = 0.0  # seconds
        self.batch = [0] * (len(BATCH_BUCKETS) + 1)
        self.batch_sum = 0  # requests run in batches of the batcher
        self.batch_runs = 0  # model executions of the batcher
        log.on_quarter = self.fold

    def fold(self) -> None:
        """Bucket the samples recorded since the last fold (on the recording thread)."""
        lat, _ = self.log.since(self.seen)
        self.seen = self.log.count
        if lat.size:
            idx = np.searchsorted(_BOUNDS_MS, lat, "left")
            self.duration += np.bincount(idx, minlength=self.duration.size)
            self.duration_sum += float(lat.sum()) / 1000.0

    def observe_batch(self, requests: int) -> None:
        """One model execution of the batcher that ran ``requests`` requests together."""
        self.batch[bisect_left(BATCH_BUCKETS, requests)] += 1
        self.batch_sum += requests
        self.batch_runs += 1


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n")


def _num(x: float) -> str:
    return repr(float(x)) if isinstance(x, float) else str(x)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, labels: str, value: float) -> None:
        self.lines.append(f"{name}{{{labels}}} {_num(value)}")

    def histogram(self, name: str, labels: str, bounds: Iterable[float],
                  counts: Iterable[int], total: float) -> None:
        running = 0
        for bound, n in zip((*bounds, None), counts):
            running += int(n)
            le = "+Inf" if bound is None else repr(float(bound))
            self.lines.append(f'{name}_bucket{{{labels},le="{le}"}} {running}')
        self.lines.append(f"{name}_sum{{{labels}}} {_num(total)}")
        self.lines.append(f"{name}_count{{{labels}}} {running}")


def render(model: str, versions: Iterable[Any], weights: dict[str, float],
           in_flight: int) -> bytes:
    """The exposition text for ``versions`` (router ``ModelVersion`` objects)."""
    vs = list(versions)
    for v in vs:
        v.metrics.fold()
    m = _label(model)
    lab = {v.id: f'model="{m}",version="{_label(v.id)}"' for v in vs}
    w = _Writer()
    w.family("mlform_inference_request_success_total", "counter",
             "Infer requests answered 200, per model version.")
    for v in vs:
        log = v.log
        w.sample("mlform_inference_request_success_total", lab[v.id],
                 log.count - log.total_errors - log.total_client_errors)
    w.family("mlform_inference_request_failure_total", "counter",
             "Infer requests that failed: reason client_error (4xx: the request was refused) "
             "or server_error (5xx: the model failed).")
    for v in vs:
        w.sample("mlform_inference_request_failure_total", lab[v.id] + ',reason="client_error"',
                 v.log.total_client_errors)
        w.sample("mlform_inference_request_failure_total", lab[v.id] + ',reason="server_error"',
                 v.log.total_errors)
    w.family("mlform_inference_request_duration_seconds", "histogram",
             "Infer request latency, from decoding the body to the response being ready "
             "(decode, batch queue, run, encode), every outcome.")
    for v in vs:
        vm = v.metrics
        w.histogram("mlform_inference_request_duration_seconds", lab[v.id], DURATION_BUCKETS,
                    vm.duration.tolist(), vm.duration_sum)
    w.family("mlform_inference_exec_count_total", "counter",
             "Model executions; with adaptive batching one execution runs several requests.")
    for v in vs:
        w.sample("mlform_inference_exec_count_total", lab[v.id], v.runs)
    w.family("mlform_inference_batch_size", "histogram",
             "Requests run together in one model execution (1 without batching).")
    for v in vs:
        vm = v.metrics
        singles = max(0, v.runs - vm.batch_runs)  # executions outside the batcher: one each
        counts = list(vm.batch)
        counts[0] += singles
        w.histogram("mlform_inference_batch_size", lab[v.id], BATCH_BUCKETS, counts,
                    vm.batch_sum + singles)
    w.family("mlform_model_version_traffic_percent", "gauge",
             "Share of the model's traffic the router sends to the version.")
    total = sum(weights.values())
    for v in vs:
        share = 100.0 * weights.get(v.id, 0.0) / total if total else 0.0
        w.sample("mlform_model_version_traffic_percent", lab[v.id], share)
    w.family("mlform_inference_requests_in_flight", "gauge",
             "Infer requests being handled now (HTTP and gRPC).")
    w.sample("mlform_inference_requests_in_flight", f'model="{m}"', in_flight)
    w.lines.append("")
    return "\n".join(w.lines).encode()
