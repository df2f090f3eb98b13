"""The /mlform/ admin API of a real server: auth, versions, traffic, stats, info."""

from __future__ import annotations

import collections
import time

import numpy as np
import pytest

from server_helpers import infer_body
from mlform.providers.local import process
from mlform.providers.local.process import AdminError


@pytest.fixture(scope="module")
def shared(launch, classifiers):
    """One server for the tests that leave its versions and weights as they found them."""
    return launch("shared", {"v1": classifiers["v1"]})


def test_admin_needs_the_token(shared, client):
    h = shared
    r = client.get(h.url + "/mlform/info")
    assert r.status_code == 401 and "bearer token" in r.json()["error"]
    r = client.get(h.url + "/mlform/info", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    with pytest.raises(AdminError, match="missing or wrong bearer token"):
        process.info(h.url, "wrong")


def test_info(shared, classifiers):
    h = shared
    got = process.info(h.url, h.token)
    # the server's own pid, and its supervisor's (the handle's pid)
    assert got["pid"] == h.server_pid and got["supervisor_pid"] == h.pid
    assert got["port"] == h.port and got["name"] == "shared"
    assert got["device"] == "cpu" and got["ready"] is True
    assert got["weights"] == {"v1": 100.0}
    assert got["digests"] == {"v1": classifiers["v1"].digest}


def test_load_version_then_weighted_routing(launch, classifiers, client):
    h = launch("routing", {"v1": classifiers["v1"]})
    desc = process.load_version(h.url, h.token, "v2", classifiers["v2"].path,
                                digest=classifiers["v2"].digest)
    assert desc["digest"] == classifiers["v2"].digest and desc["device"] == "cpu"
    assert process.info(h.url, h.token)["weights"] == {"v1": 100.0, "v2": 0.0}
    assert process.set_traffic(h.url, h.token, {"v1": 75, "v2": 25}) == {"v1": 75.0, "v2": 25.0}
    x = np.ones((1, 4), dtype=np.float32)
    counts = collections.Counter(
        client.post(h.url + "/v2/models/routing/infer", json=infer_body(x)).json()["model_version"]
        for _ in range(400))
    assert abs(counts["v1"] - 300) <= 20 and abs(counts["v2"] - 100) <= 20
    s1 = process.stats(h.url, h.token, 60, version="v1")
    s2 = process.stats(h.url, h.token, 60, version="v2")
    assert s1.request_count == counts["v1"] and s2.request_count == counts["v2"]


def test_version_changes_that_are_refused(shared, classifiers, tmp_path):
    h = shared
    with pytest.raises(AdminError, match="expected sha256:0000") as e:
        process.load_version(h.url, h.token, "v2", classifiers["v2"].path, digest="sha256:0000")
    assert e.value.status == 422
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    with pytest.raises(AdminError, match="cannot load ONNX model"):
        process.load_version(h.url, h.token, "v2", junk)
    with pytest.raises(AdminError, match="already loaded") as e:
        process.load_version(h.url, h.token, "v1", classifiers["v1"].path)
    assert e.value.status == 409
    with pytest.raises(AdminError, match="still receives 100 of the traffic"):
        process.remove_version(h.url, h.token, "v1")
    with pytest.raises(AdminError, match="no version 'v9'"):
        process.set_traffic(h.url, h.token, {"v9": 100})
    with pytest.raises(AdminError, match="window must be a number of seconds > 0"):
        process.stats(h.url, h.token, 0)
    assert process.info(h.url, h.token)["weights"] == {"v1": 100.0}


def test_remove_version(launch, classifiers, client):
    h = launch("remove", {"v1": classifiers["v1"], "v2": classifiers["v2"]})
    process.set_traffic(h.url, h.token, {"v2": 100})
    process.remove_version(h.url, h.token, "v1")
    assert list(process.info(h.url, h.token)["digests"]) == ["v2"]
    meta = client.get(h.url + "/v2/models/remove").json()
    assert meta["versions"] == ["v2"]
    r = client.post(h.url + "/v2/models/remove/versions/v1/infer",
                    json=infer_body(np.ones((1, 4), dtype=np.float32)))
    assert r.status_code == 404


def test_stats_window_counts_and_percentiles(launch, classifiers, client):
    h = launch("stats", {"v1": classifiers["v1"]})
    url = h.url + "/v2/models/stats/infer"
    good = infer_body(np.ones((1, 4), dtype=np.float32))
    for _ in range(20):
        assert client.post(url, json=good).status_code == 200
    time.sleep(1.5)
    for _ in range(10):
        assert client.post(url, json=good).status_code == 200
    for _ in range(2):
        assert client.post(url, json={"inputs": []}).status_code == 400
    recent = process.stats(h.url, h.token, 1.0)
    everything = process.stats(h.url, h.token, 60)
    assert recent.request_count == 12 and everything.request_count == 32
    assert everything.client_error_count == 2 and everything.error_count == 0
    assert everything.error_rate == 0.0 and not everything.truncated
    assert 0 < everything.p50_ms <= everything.p95_ms <= everything.p99_ms
    # (Percentile arithmetic itself is checked against numpy in tests/unit/server.)


def test_admin_client_ignores_proxy_environment(shared, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    assert process.info(shared.url, shared.token)["pid"] == shared.server_pid


def test_server_started_empty_becomes_ready_with_its_first_version(launch, classifiers, client):
    h = launch("empty", {})
    assert client.get(h.url + "/v2/health/ready").status_code == 503
    r = client.post(h.url + "/v2/models/empty/infer", json=infer_body(np.ones((1, 4))))
    assert r.status_code == 503 and "no model version receives traffic" in r.json()["error"]
    process.load_version(h.url, h.token, "v1", classifiers["v1"].path)
    assert client.get(h.url + "/v2/health/ready").status_code == 200
    assert process.info(h.url, h.token)["weights"] == {"v1": 100.0}
