"""GET /metrics on a running server, scraped and read with Prometheus' own parser."""

from __future__ import annotations

import numpy as np
import pytest

from server_helpers import infer_body

parser = pytest.importorskip("prometheus_client.parser")


@pytest.fixture(scope="module")
def server(launch, classifiers):
    return launch("metered", {"v1": classifiers["v1"], "v2": classifiers["v2"]},
                  weights={"v1": 75, "v2": 25})


def _scrape(client, server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get(server.url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in parser.text_string_to_metric_families(r.text) for s in f.samples}


def _get(samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted({"model": "metered", **labels}.items())))]


def test_counts_latency_and_batches_per_version(server, client):
    x = np.ones((2, 4), dtype=np.float32)
    url = server.url + "/v2/models/metered"
    for _ in range(7):
        assert client.post(url + "/versions/v1/infer", json=infer_body(x)).status_code == 200
    for _ in range(3):
        assert client.post(url + "/versions/v2/infer", json=infer_body(x)).status_code == 200
    assert client.post(url + "/versions/v2/infer", content=b"{not json").status_code == 400
    bad_shape = infer_body(np.ones((2, 5), dtype=np.float32))
    assert client.post(url + "/versions/v2/infer", json=bad_shape).status_code == 400

    m = _scrape(client, server)
    assert _get(m, "mlform_inference_request_success_total", version="v1") == 7
    assert _get(m, "mlform_inference_request_success_total", version="v2") == 3
    assert _get(m, "mlform_inference_request_failure_total", version="v2",
                reason="client_error") == 2
    assert _get(m, "mlform_inference_request_failure_total", version="v2",
                reason="server_error") == 0
    h = "mlform_inference_request_duration_seconds"
    assert _get(m, h + "_count", version="v2") == 5
    assert _get(m, h + "_bucket", version="v2", le="+Inf") == 5
    assert 0 < _get(m, h + "_sum", version="v1")
    # No batching configured: each request that ran is one execution of batch size 1.
    assert _get(m, "mlform_inference_exec_count_total", version="v1") == 7
    assert _get(m, "mlform_inference_batch_size_bucket", version="v1", le="1.0") == 7
    assert _get(m, "mlform_inference_batch_size_sum", version="v1") == 7
    assert _get(m, "mlform_model_version_traffic_percent", version="v2") == 25.0

    for _ in range(4):  # counters only grow between scrapes
        client.post(url + "/versions/v1/infer", json=infer_body(x))
    again = _scrape(client, server)
    assert _get(again, "mlform_inference_request_success_total", version="v1") == 11
    assert _get(again, h + "_count", version="v1") == 11
