"""Bad input and limits on a real server process: every refusal is a 4xx or 503 with a JSON
``{"error": ...}`` body, and the server keeps serving afterwards."""

from __future__ import annotations

import gzip
import socket
import zlib

import numpy as np
import orjson
import pytest

from server_helpers import infer_body, probabilities

LIMIT = 64 << 10  # max_request_bytes of the small server below
BINARY_HEAD = orjson.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                                        "parameters": {"binary_data_size": 16}}]})


@pytest.fixture(scope="module")
def server(launch, classifiers):
    return launch("lim", {"v1": classifiers["v1"]},
                  extra_config={"max_request_bytes": LIMIT, "max_in_flight": 2})


def _ok(client, server, classifiers):
    x = np.ones((2, 4), dtype=np.float32)
    r = client.post(server.url + "/v2/models/lim/infer", json=infer_body(x))
    assert r.status_code == 200
    np.testing.assert_allclose(probabilities(r), classifiers["v1"].predict(x), rtol=1e-5)


def _error(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    return r.json()["error"]


@pytest.mark.parametrize("method, path, status, message", [
    ("GET", "/v2/nothing/here", 404, "no route GET /v2/nothing/here"),
    ("GET", "/v2/models/lim/infer", 405, "does not accept GET (allowed: POST)"),
    ("DELETE", "/v2/health/live", 405, "does not accept DELETE"),
    ("GET", "/v2/models/lim/versions/v9/ready", 404, "has no version 'v9'"),
    ("GET", "/v2/models/other/versions/v1/ready", 404, "unknown model 'other'"),
    ("POST", "/v2/models/lim/versions/v9/infer", 404, "has no version 'v9'"),
])
def test_routes_answer_json_errors(server, client, classifiers, method, path, status, message):
    assert message in _error(client.request(method, server.url + path), status)
    _ok(client, server, classifiers)


def test_version_ready_and_metadata(server, client):
    r = client.get(server.url + "/v2/models/lim/versions/v1/ready")
    assert r.status_code == 200 and r.json() == {"name": "lim", "version": "v1", "ready": True}


def _post(client, server, content, **headers):
    return client.post(server.url + "/v2/models/lim/infer", content=content,
                       headers={"content-type": "application/json", **headers})


def test_oversize_body_gets_413_and_the_server_serves_on(server, client, classifiers):
    big = orjson.dumps(infer_body(np.zeros((LIMIT // 8, 4), dtype=np.float32)))
    message = _error(_post(client, server, big), 413)
    assert "over this server's limit of 65,536 bytes" in message
    assert "raise the endpoint's max_request_size" in message  # what a user of the endpoint can change
    _ok(client, server, classifiers)


def test_compressed_bodies(server, client, classifiers):
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    raw = orjson.dumps(infer_body(x))
    for encoding, data in (("gzip", gzip.compress(raw)), ("deflate", zlib.compress(raw)),
                           ("deflate", _raw_deflate(raw))):
        r = _post(client, server, data, **{"content-encoding": encoding})
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(probabilities(r), classifiers["v1"].predict(x), rtol=1e-5)
    assert "not valid gzip data" in _error(
        _post(client, server, b"\x1f\x8bnot gzip at all", **{"content-encoding": "gzip"}), 400)
    assert "ends early" in _error(
        _post(client, server, gzip.compress(raw)[:-12], **{"content-encoding": "gzip"}), 400)
    assert "not supported" in _error(
        _post(client, server, raw, **{"content-encoding": "br"}), 415)
    # 64 KiB limit, 10 MiB of zeros compressed to ~10 KiB: refused while inflating.
    bomb = gzip.compress(b"0" * (10 << 20))
    assert len(bomb) < LIMIT
    assert "decompressed request body" in _error(
        _post(client, server, bomb, **{"content-encoding": "gzip"}), 413)
    _ok(client, server, classifiers)


def _raw_deflate(data: bytes) -> bytes:
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush()


@pytest.mark.parametrize("content, headers, status, message", [
    (b"{oops", {}, 400, "not valid JSON"),
    (b'{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32", '
     b'"data": [1, 2, 3]}]}', {}, 400, "has 3 values but shape [1, 4] needs 4"),
    (b'{"inputs": [{"name": "features", "shape": [1, 4], "datatype": "BYTES", '
     b'"data": ["a", "b", "c", "d"]}]}', {}, 400, "datatype 'BYTES' but the model expects"),
    (BINARY_HEAD + b"\0" * 8, {"inference-header-content-length": str(len(BINARY_HEAD))}, 400,
     "only 8 bytes of binary data are left"),
    (b"{}", {"inference-header-content-length": "lots"}, 400, "must be a byte count"),
    (b"{}", {"inference-header-content-length": "99"}, 400,
     "Inference-Header-Content-Length is 99 but the body has 2 bytes"),
])
def test_bad_bodies(server, client, classifiers, content, headers, status, message):
    assert message in _error(_post(client, server, content, **headers), status)
    _ok(client, server, classifiers)


def _slow_request(server, sent: bytes, total: int) -> socket.socket:
    """A connection that has sent the headers and part of a body of ``total`` bytes."""
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"POST /v2/models/lim/infer HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % total + sent)
    return s


def _response(s: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += s.recv(65536)
    return int(head.split()[1]), head + b"\r\n\r\n" + rest


def test_slow_bodies_hold_their_slot_others_get_503_with_retry_after(server, client,
                                                                    classifiers):
    body = orjson.dumps(infer_body(np.ones((1, 4), dtype=np.float32)))
    slow = [_slow_request(server, body[:10], len(body)) for _ in range(2)]  # max_in_flight 2
    try:
        assert client.get(server.url + "/v2/health/live").status_code == 200
        r = client.post(server.url + "/v2/models/lim/infer", content=body)
        assert "max_in_flight" in _error(r, 503) and r.headers["retry-after"] == "1"
        for s in slow:  # the slow clients finish and are answered
            s.sendall(body[10:])
            status, raw = _response(s)
            assert status == 200 and b'"model_version":"v1"' in raw
    finally:
        for s in slow:
            s.close()
    _ok(client, server, classifiers)


def test_oversize_content_length_is_refused_before_the_body_is_read(server):
    s = _slow_request(server, b"", 1 << 30)
    try:
        status, raw = _response(s)
        assert status == 413 and b"1,073,741,824 bytes" in raw
        assert b"connection: close" in raw.lower()
    finally:
        s.close()
