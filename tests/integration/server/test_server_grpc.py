"""NVIDIA's tritonclient.grpc (sync and asyncio) against the server's V2 gRPC service:
every call of the protocol it makes, raw and typed tensor contents, BYTES, per version,
errors as gRPC status codes, and the same counters as HTTP."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import types

import numpy as np
import pytest

from mlform.providers.server.client import info
from mlform.providers.server.config import ServerConfig, VersionSpec
from server_helpers import write_onnx_echo

grpcclient = pytest.importorskip("tritonclient.grpc")
aioclient = pytest.importorskip("tritonclient.grpc.aio")
import grpc  # noqa: E402
from tritonclient.grpc import service_pb2, service_pb2_grpc  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402


def _grpc_target(handle) -> str:
    port = info(handle.url, handle.token)["grpc_port"]
    assert isinstance(port, int) and port > 0
    return f"127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(launch, classifiers):
    return launch("gclf", {"v1": classifiers["v1"], "v2": classifiers["v2"]},
                  weights={"v1": 100}, extra_config={"grpc_port": 0})


@pytest.fixture(scope="module")
def target(server):
    return _grpc_target(server)


def _features(x):
    inp = grpcclient.InferInput("features", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return inp


def test_server_and_model_calls(target):
    c = grpcclient.InferenceServerClient(target)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("gclf") and c.is_model_ready("gclf", "v2")
    assert not c.is_model_ready("gclf", "v9") and not c.is_model_ready("other")
    meta = c.get_server_metadata()
    assert meta.name == "mlform" and "binary_tensor_data" in meta.extensions
    model = c.get_model_metadata("gclf")
    assert list(model.versions) == ["v1", "v2"] and model.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in model.inputs] == [("features", "FP32", [-1, 4])]
    assert list(c.get_model_metadata("gclf", "v2").versions) == ["v2"]
    with pytest.raises(InferenceServerException, match="unknown model 'other'") as e:
        c.get_model_metadata("other")
    assert e.value.status() == "StatusCode.NOT_FOUND"


def test_infer_raw_contents_per_version(target, classifiers):
    c = grpcclient.InferenceServerClient(target)
    x = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    result = c.infer("gclf", [_features(x)], request_id="g1")
    assert result.get_response().id == "g1" and result.get_response().model_version == "v1"
    np.testing.assert_allclose(result.as_numpy("probabilities"), classifiers["v1"].predict(x),
                               rtol=1e-5)
    on_v2 = c.infer("gclf", [_features(x)], model_version="v2",
                    outputs=[grpcclient.InferRequestedOutput("probabilities")])
    assert on_v2.get_response().model_version == "v2"
    np.testing.assert_allclose(on_v2.as_numpy("probabilities"), classifiers["v2"].predict(x),
                               rtol=1e-5)


def test_typed_contents_are_accepted(target, classifiers):
    x = np.ones((2, 4), dtype=np.float32)
    req = service_pb2.ModelInferRequest(model_name="gclf")
    t = req.inputs.add(name="features", datatype="FP32", shape=[2, 4])
    t.contents.fp32_contents.extend(x.ravel().tolist())
    with grpc.insecure_channel(target) as channel:
        resp = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(req)
    (out,) = resp.outputs
    assert (out.name, out.datatype, list(out.shape)) == ("probabilities", "FP32", [2, 3])
    got = np.frombuffer(resp.raw_output_contents[0], dtype="<f4").reshape(2, 3)
    np.testing.assert_allclose(got, classifiers["v1"].predict(x), rtol=1e-5)


def test_bytes_and_integers(launch, tmp_path_factory):
    path = write_onnx_echo(tmp_path_factory.mktemp("gecho") / "echo.onnx")
    handle = launch("gecho", {"e1": types.SimpleNamespace(path=path, format="onnx")},
                    extra_config={"grpc_port": 0})
    c = grpcclient.InferenceServerClient(_grpc_target(handle))
    text = grpcclient.InferInput("text", [2], "BYTES")
    text.set_data_from_numpy(np.array(["café".encode(), b"two words"], dtype=object))
    ids = grpcclient.InferInput("ids", [2, 2], "INT64")
    ids.set_data_from_numpy(np.array([[1, 2], [3, 4]], dtype=np.int64))
    result = c.infer("gecho", [text, ids])
    assert result.as_numpy("echo").tolist() == ["café".encode(), b"two words"]
    assert result.as_numpy("doubled").tolist() == [[2, 4], [6, 8]]


def test_errors_are_status_codes_and_the_server_keeps_serving(target, server, client):
    c = grpcclient.InferenceServerClient(target)
    wrong = grpcclient.InferInput("features", [1, 4], "FP64")
    wrong.set_data_from_numpy(np.ones((1, 4), dtype=np.float64))
    with pytest.raises(InferenceServerException, match="datatype 'FP64'") as e:
        c.infer("gclf", [wrong])
    assert e.value.status() == "StatusCode.INVALID_ARGUMENT"
    short = service_pb2.ModelInferRequest(model_name="gclf")
    short.inputs.add(name="features", datatype="FP32", shape=[1, 4])
    short.raw_input_contents.append(b"\0" * 12)
    with grpc.insecure_channel(target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as rpc:
            stub.ModelInfer(short)
        assert rpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "12 bytes of raw_input_contents but 4 FP32 values take 16" in rpc.value.details()
        with pytest.raises(grpc.RpcError) as rpc:
            stub.ModelInfer(service_pb2.ModelInferRequest(model_name="gclf", model_version="v9"))
        assert rpc.value.code() == grpc.StatusCode.NOT_FOUND
    x = np.ones((1, 4), dtype=np.float32)
    assert c.infer("gclf", [_features(x)]).as_numpy("probabilities").shape == (1, 3)
    # gRPC requests count in the same counters as HTTP ones.
    text = client.get(server.url + "/metrics").text
    assert 'mlform_inference_request_failure_total{model="gclf",version="v1",reason="client_error"} 2' in text


def test_asyncio_client(target, classifiers):
    async def go():
        async with aioclient.InferenceServerClient(target) as c:
            assert await c.is_server_live()
            x = np.full((3, 4), 0.5, dtype=np.float32)
            inp = aioclient.InferInput("features", [3, 4], "FP32")
            inp.set_data_from_numpy(x)
            return x, await c.infer("gclf", [inp])
    x, result = asyncio.run(go())
    np.testing.assert_allclose(result.as_numpy("probabilities"), classifiers["v1"].predict(x),
                               rtol=1e-5)


def test_grpc_port_without_the_extra_is_a_one_line_error(tmp_path, classifiers):
    # sys.modules["grpc"] = None makes grpc unimportable, as in an install without the extra.
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['grpc'] = None\n")
    config = ServerConfig(name="m", token="t", grpc_port=0, port_file=str(tmp_path / "s.json"),
                          versions=[VersionSpec("v1", str(classifiers["v1"].path))], gpus="none")
    config.save(tmp_path / "config.json")
    r = subprocess.run([sys.executable, "-m", "mlform.providers.server", "--config",
                        str(tmp_path / "config.json")], capture_output=True, text=True,
                       timeout=60, env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2
    status = json.loads((tmp_path / "s.json").read_text())
    assert "needs the mlform[grpc] extra" in status["error"]
    assert "pip install 'mlform[grpc]'" in status["error"]
    assert "Traceback" not in r.stderr
