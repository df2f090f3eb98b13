"""Adaptive batching on a running server: concurrent clients get the answers the unbatched
server gives, /metrics shows batches of more than one request, a fixed-batch model is
never batched."""

from __future__ import annotations

import asyncio
import types

import httpx
import numpy as np
import pytest

from server_helpers import infer_body

parser = pytest.importorskip("prometheus_client.parser")
BATCHING = {"batching": {"max_batch_size": 16, "max_delay_ms": 30}}


def write_fixed_batch_classifier(path):
    """A linear model whose input is exactly [2, 4] (no dynamic batch dimension)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["scores"])], "fixed",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [2, 3])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return types.SimpleNamespace(path=path, format="onnx")


def _concurrently(url: str, bodies: list[dict]) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(bodies))
        async with httpx.AsyncClient(trust_env=False, timeout=30, limits=limits) as c:
            return await asyncio.gather(*(c.post(url, json=b) for b in bodies))
    return asyncio.run(go())


def _batch_size(client, url: str, version: str) -> tuple[float, float]:
    """(executions, requests run) of the batch-size histogram."""
    text = client.get(url + "/metrics").text
    fam = next(f for f in parser.text_string_to_metric_families(text)
               if f.name == "mlform_inference_batch_size")
    got = {s.name: s.value for s in fam.samples if s.labels["version"] == version
           and "le" not in s.labels}
    return got["mlform_inference_batch_size_count"], got["mlform_inference_batch_size_sum"]


def test_concurrent_clients_get_their_own_answers_in_shared_batches(launch, classifiers, client):
    batched = launch("batched", {"v1": classifiers["v1"]}, extra_config=BATCHING)
    plain = launch("unbatched", {"v1": classifiers["v1"]})
    rng = np.random.default_rng(5)
    xs = [rng.normal(size=(int(rng.integers(1, 4)), 4)).astype(np.float32) for _ in range(48)]
    bodies = [infer_body(x, id=f"r{i}") for i, x in enumerate(xs)]
    got = _concurrently(batched.url + "/v2/models/batched/infer", bodies)
    want = _concurrently(plain.url + "/v2/models/unbatched/infer", bodies)
    for i, (x, g, w) in enumerate(zip(xs, got, want)):
        assert g.status_code == 200 and w.status_code == 200
        gj, wj = g.json(), w.json()
        assert gj["id"] == f"r{i}" and gj["outputs"][0]["shape"] == [len(x), 3]
        np.testing.assert_allclose(gj["outputs"][0]["data"], wj["outputs"][0]["data"], rtol=1e-5)
    executions, requests = _batch_size(client, batched.url, "v1")
    assert requests == 48 and executions < 48  # some batch ran more than one request
    assert _batch_size(client, plain.url, "v1") == (48, 48)


def test_a_bad_request_among_batched_ones_fails_alone(launch, classifiers):
    server = launch("batched-bad", {"v1": classifiers["v1"]}, extra_config=BATCHING)
    x = np.ones((1, 4), dtype=np.float32)
    bodies = [infer_body(x) for _ in range(8)]
    bodies[3] = {"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP64",
                             "data": [1, 1, 1, 1]}]}
    got = _concurrently(server.url + "/v2/models/batched-bad/infer", bodies)
    assert [r.status_code for r in got] == [200, 200, 200, 400, 200, 200, 200, 200]
    assert "datatype" in got[3].json()["error"]


def test_a_fixed_batch_model_is_never_batched(launch, tmp_path_factory, client):
    artifact = write_fixed_batch_classifier(tmp_path_factory.mktemp("fixed") / "fixed.onnx")
    server = launch("fixed", {"f1": artifact}, extra_config=BATCHING)
    x = np.ones((2, 4), dtype=np.float32)
    got = _concurrently(server.url + "/v2/models/fixed/infer", [infer_body(x)] * 16)
    assert all(r.status_code == 200 for r in got)
    assert got[0].json()["outputs"][0]["data"] == (x @ np.arange(12).reshape(4, 3)).ravel().tolist()
    assert _batch_size(client, server.url, "f1") == (16, 16)
