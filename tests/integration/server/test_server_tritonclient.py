"""NVIDIA's tritonclient (HTTP, sync and async) against a real server, with the client's
defaults: binary tensor data both ways, every protocol call it makes, per version too."""

from __future__ import annotations

import asyncio
import types

import numpy as np
import pytest

from server_helpers import write_onnx_echo

httpclient = pytest.importorskip("tritonclient.http")
aioclient = pytest.importorskip("tritonclient.http.aio")
from tritonclient.utils import InferenceServerException  # noqa: E402


@pytest.fixture(scope="module")
def server(launch, classifiers):
    return launch("clf", {"v1": classifiers["v1"], "v2": classifiers["v2"]},
                  weights={"v1": 100})


@pytest.fixture(scope="module")
def echo(launch, tmp_path_factory):
    path = write_onnx_echo(tmp_path_factory.mktemp("echo") / "echo.onnx")
    return launch("echo", {"e1": types.SimpleNamespace(path=path, format="onnx")})


def _client(handle):
    return httpclient.InferenceServerClient(handle.url.split("://", 1)[1])


def _features(x):
    inp = httpclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)  # binary_data=True is the client's default
    return inp


def test_server_and_model_calls(server):
    c = _client(server)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("clf") and c.is_model_ready("clf", "v2")
    assert not c.is_model_ready("clf", "v9") and not c.is_model_ready("other")
    meta = c.get_server_metadata()
    assert meta["name"] == "mlform" and "binary_tensor_data" in meta["extensions"]
    assert c.get_model_metadata("clf")["versions"] == ["v1", "v2"]
    assert c.get_model_metadata("clf", "v2")["inputs"][0]["name"] == "features"
    with pytest.raises(InferenceServerException, match="unknown model 'other'"):
        c.get_model_metadata("other")


def test_infer_with_client_defaults_is_binary_both_ways(server, classifiers):
    c = _client(server)
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    result = c.infer("clf", [_features(x)])  # no outputs named: all, as binary data
    out = result.get_output("probabilities")
    assert out["parameters"]["binary_data_size"] == 5 * 3 * 4 and "data" not in out
    np.testing.assert_allclose(result.as_numpy("probabilities"),
                               classifiers["v1"].predict(x), rtol=1e-5)
    on_v2 = c.infer("clf", [_features(x)], model_version="v2",
                    outputs=[httpclient.InferRequestedOutput("probabilities")])
    assert on_v2.get_response()["model_version"] == "v2"
    np.testing.assert_allclose(on_v2.as_numpy("probabilities"),
                               classifiers["v2"].predict(x), rtol=1e-5)


def test_json_input_and_json_output_mixed_with_binary(server, classifiers):
    c = _client(server)
    x = np.ones((2, 4), dtype=np.float32)
    inp = httpclient.InferInput("features", [2, 4], "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    result = c.infer("clf", [inp], request_id="r7", outputs=[
        httpclient.InferRequestedOutput("probabilities", binary_data=False)])
    body = result.get_response()
    assert body["id"] == "r7" and len(body["outputs"][0]["data"]) == 6
    np.testing.assert_allclose(result.as_numpy("probabilities"),
                               classifiers["v1"].predict(x), rtol=1e-5)


def test_bytes_and_int64_tensors_binary_and_json(echo):
    c = _client(echo)
    words = np.array(["héllo".encode(), b"", b"three words here"], dtype=object)
    ids = np.arange(6, dtype=np.int64).reshape(3, 2)
    for binary in (True, False):
        text = httpclient.InferInput("text", [3], "BYTES")
        text.set_data_from_numpy(words, binary_data=binary)
        num = httpclient.InferInput("ids", [3, 2], "INT64")
        num.set_data_from_numpy(ids, binary_data=binary)
        r = c.infer("echo", [text, num], outputs=[
            httpclient.InferRequestedOutput("echo", binary_data=binary),
            httpclient.InferRequestedOutput("doubled", binary_data=binary)])
        assert [bytes(w) if not isinstance(w, str) else w.encode()
                for w in r.as_numpy("echo")] == list(words)
        np.testing.assert_array_equal(r.as_numpy("doubled"), ids * 2)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(server, classifiers, algorithm):
    c = _client(server)
    x = np.random.default_rng(8).normal(size=(64, 4)).astype(np.float32)
    r = c.infer("clf", [_features(x)], request_compression_algorithm=algorithm,
                response_compression_algorithm=algorithm)
    np.testing.assert_allclose(r.as_numpy("probabilities"),
                               classifiers["v1"].predict(x), rtol=1e-5)


def test_server_errors_reach_the_client_as_messages(server):
    c = _client(server)
    bad = httpclient.InferInput("features", [1, 3], "FP32")
    bad.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"shape \[1, 3\] but the model expects"):
        c.infer("clf", [bad])
    with pytest.raises(InferenceServerException, match="has no version 'v9'"):
        c.infer("clf", [_features(np.zeros((1, 4), dtype=np.float32))], model_version="v9")
    assert c.is_server_live()


def test_async_client(server, classifiers):
    async def run():
        c = aioclient.InferenceServerClient(server.url.split("://", 1)[1])
        try:
            x = np.random.default_rng(4).normal(size=(3, 4)).astype(np.float32)
            inp = aioclient.InferInput("features", [3, 4], "FP32")
            inp.set_data_from_numpy(x)
            ready = await c.is_model_ready("clf", "v1")
            results = await asyncio.gather(*(c.infer("clf", [inp]) for _ in range(8)))
            meta = await c.get_model_metadata("clf", "v1")
            return ready, [r.as_numpy("probabilities") for r in results], meta, x
        finally:
            await c.close()

    ready, outs, meta, x = asyncio.run(run())
    assert ready and meta["versions"] == ["v1"]
    for y in outs:
        np.testing.assert_allclose(y, classifiers["v1"].predict(x), rtol=1e-5)
