"""/metrics text: folded from the stats rings, every sample counted once, parseable."""

from __future__ import annotations

import types

import numpy as np
import pytest

from mlform.providers.server.metrics import DURATION_BUCKETS, VersionMetrics, render
from mlform.providers.server.stats import CLIENT_ERROR, OK, SERVER_ERROR, RequestLog

parser = pytest.importorskip("prometheus_client.parser")


def _version(vid: str, capacity: int = 16) -> types.SimpleNamespace:
    log = RequestLog(capacity)
    return types.SimpleNamespace(id=vid, log=log, metrics=VersionMetrics(log), runs=0)


def _families(text: bytes) -> dict[str, object]:
    return {f.name: f for f in parser.text_string_to_metric_families(text.decode())}


def _value(fams: dict, family: str, sample: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {sample} {labels}")


def test_samples_past_the_ring_are_all_bucketed_without_a_scrape():
    # A ring of 16 wraps six times over 100 requests: the quarter-ring fold keeps each one.
    v = _version("v1")
    rng = np.random.default_rng(0)
    lat_ms = rng.lognormal(0, 2, 100)
    kinds = [SERVER_ERROR if i % 10 == 0 else CLIENT_ERROR if i % 7 == 0 else OK
             for i in range(100)]
    for i, (x, k) in enumerate(zip(lat_ms, kinds)):
        v.log.record(float(i), float(x), k)
    fams = _families(render("m", [v], {"v1": 100.0}, 3))
    name = "mlform_inference_request_duration_seconds"
    assert _value(fams, name, name + "_count", version="v1") == 100
    assert _value(fams, name, name + "_sum", version="v1") == pytest.approx(lat_ms.sum() / 1000)
    for bound in DURATION_BUCKETS:
        expected = int(np.count_nonzero(lat_ms / 1000 <= bound))
        assert _value(fams, name, name + "_bucket", le=str(float(bound))) == expected
    assert _value(fams, name, name + "_bucket", le="+Inf") == 100
    servers, clients = kinds.count(SERVER_ERROR), kinds.count(CLIENT_ERROR)
    assert _value(fams, "mlform_inference_request_success",
                  "mlform_inference_request_success_total") == 100 - servers - clients
    assert _value(fams, "mlform_inference_request_failure", "mlform_inference_request_failure_total",
                  reason="server_error") == servers
    assert _value(fams, "mlform_inference_request_failure", "mlform_inference_request_failure_total",
                  reason="client_error") == clients
    assert _value(fams, "mlform_inference_requests_in_flight",
                  "mlform_inference_requests_in_flight") == 3


def test_scrapes_are_cumulative_and_per_version():
    a, b = _version("a", 64), _version("b\"x", 64)  # a quote in an id is escaped
    a.log.record(1.0, 0.05)
    first = _families(render("m", [a, b], {"a": 90.0, "b\"x": 10.0}, 0))
    name = "mlform_inference_request_duration_seconds"
    assert _value(first, name, name + "_count", version="a") == 1
    a.log.record(2.0, 3.0)
    b.log.record(2.0, 3.0)
    again = _families(render("m", [a, b], {"a": 90.0, "b\"x": 10.0}, 0))
    assert _value(again, name, name + "_count", version="a") == 2
    assert _value(again, name, name + "_count", version="b\"x") == 1
    assert _value(again, "mlform_model_version_traffic_percent",
                  "mlform_model_version_traffic_percent", version="b\"x") == 10.0


def test_batch_sizes_count_executions_outside_the_batcher_as_one():
    v = _version("v1")
    v.runs = 7  # 2 batched executions (of 5 and 40 requests) and 5 single ones
    v.metrics.observe_batch(5)
    v.metrics.observe_batch(40)
    fams = _families(render("m", [v], {"v1": 1.0}, 0))
    name = "mlform_inference_batch_size"
    assert _value(fams, name, name + "_count") == 7
    assert _value(fams, name, name + "_sum") == 5 + 40 + 5
    assert _value(fams, name, name + "_bucket", le="1.0") == 5
    assert _value(fams, name, name + "_bucket", le="8.0") == 6
    assert _value(fams, name, name + "_bucket", le="64.0") == 7
    assert _value(fams, "mlform_inference_exec_count", "mlform_inference_exec_count_total") == 7
