"""Open Inference Protocol conformance of a real server process."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from server_helpers import infer_body, probabilities


@pytest.fixture(scope="module")
def server(launch, classifiers):
    return launch("clf", {"v1": classifiers["v1"], "v2": classifiers["v2"]},
                  weights={"v1": 100})


def test_health(server, client):
    assert client.get(server.url + "/v2/health/live").json() == {"live": True}
    r = client.get(server.url + "/v2/health/ready")
    assert r.status_code == 200 and r.json() == {"ready": True}
    assert client.get(server.url + "/v2/models/clf/ready").status_code == 200
    assert client.get(server.url + "/v2").json()["name"] == "mlform"


def test_model_metadata(server, client):
    meta = client.get(server.url + "/v2/models/clf").json()
    assert meta == {
        "name": "clf", "versions": ["v1", "v2"], "platform": "onnxruntime_onnx",
        "inputs": [{"name": "features", "datatype": "FP32", "shape": [-1, 4]}],
        "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}],
    }
    v2 = client.get(server.url + "/v2/models/clf/versions/v2").json()
    assert v2["versions"] == ["v2"]
    r = client.get(server.url + "/v2/models/other")
    assert r.status_code == 404 and "unknown model 'other'" in r.json()["error"]


def test_infer_matches_onnxruntime_in_process(server, client, classifiers):
    x = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)
    r = client.post(server.url + "/v2/models/clf/infer", json=infer_body(x, id="req-1"))
    assert r.status_code == 200
    body = r.json()
    assert body["model_name"] == "clf" and body["model_version"] == "v1"
    assert body["id"] == "req-1"
    assert body["outputs"][0]["name"] == "probabilities"
    assert body["outputs"][0]["datatype"] == "FP32" and body["outputs"][0]["shape"] == [6, 3]
    sess = ort.InferenceSession(str(classifiers["v1"].path), providers=["CPUExecutionProvider"])
    (expected,) = sess.run(None, {"features": x})
    np.testing.assert_array_equal(probabilities(r), expected)  # float32 round-trips exactly


def test_infer_one_version_directly(server, client, classifiers):
    x = np.ones((2, 4), dtype=np.float32)
    r = client.post(server.url + "/v2/models/clf/versions/v2/infer", json=infer_body(x))
    assert r.status_code == 200 and r.json()["model_version"] == "v2"
    np.testing.assert_allclose(probabilities(r), classifiers["v2"].predict(x), rtol=1e-5)
    r = client.post(server.url + "/v2/models/clf/versions/v7/infer", json=infer_body(x))
    assert r.status_code == 404 and "has no version 'v7'" in r.json()["error"]


def test_requested_outputs(server, client):
    x = np.zeros((1, 4), dtype=np.float32)
    ok = client.post(server.url + "/v2/models/clf/infer",
                     json=infer_body(x, outputs=[{"name": "probabilities"}]))
    assert [o["name"] for o in ok.json()["outputs"]] == ["probabilities"]
    bad = client.post(server.url + "/v2/models/clf/infer",
                      json=infer_body(x, outputs=[{"name": "logits"}]))
    assert bad.status_code == 400 and "unknown output 'logits'" in bad.json()["error"]


@pytest.mark.parametrize("body, message", [
    ({"inputs": [{"name": "features", "shape": [1, 3], "datatype": "FP32",
                  "data": [1, 2, 3]}]}, "shape [1, 3] but the model expects [-1, 4]"),
    ({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "INT64",
                  "data": [1, 2, 3, 4]}]}, "datatype 'INT64' but the model expects 'FP32'"),
    ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]},
     "unknown input 'x'"),
    ({"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                  "data": [1, 2, 3, 4]}]}, "has 4 values but shape [2, 4] needs 8"),
    ({"instances": [[1, 2, 3, 4]]}, "non-empty 'inputs' list"),
])
def test_bad_requests_get_400_with_a_message(server, client, body, message):
    r = client.post(server.url + "/v2/models/clf/infer", json=body)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_body_that_is_not_json(server, client):
    r = client.post(server.url + "/v2/models/clf/infer", content=b"{oops",
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]


def test_unknown_model_on_infer(server, client):
    r = client.post(server.url + "/v2/models/nope/infer", json=infer_body(np.ones((1, 4))))
    assert r.status_code == 404 and "this server serves 'clf'" in r.json()["error"]
