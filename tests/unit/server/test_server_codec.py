"""V2 JSON decoding and encoding."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from mlform.providers.local.runners import TensorSpec
from mlform.providers.local.server.codec import BadRequest, decode_request, encode_response

INPUTS = {"features": TensorSpec("features", "FP32", (-1, 4))}
OUTPUTS = frozenset({"probabilities", "label"})


def body(**kw):
    req = {"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                       "data": [1, 2, 3, 4, 5, 6, 7, 8]}]}
    req["inputs"][0].update(kw)
    return orjson.dumps(req)


def test_decode_flat_and_nested():
    feed, outs, rid = decode_request(body(), INPUTS, OUTPUTS)
    assert feed["features"].shape == (2, 4) and feed["features"].dtype == np.float32
    assert outs is None and rid is None
    nested = orjson.dumps({"id": "r1", "outputs": [{"name": "label"}], "inputs": [
        {"name": "features", "shape": [2, 4], "datatype": "FP32",
         "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}]})
    feed2, outs2, rid2 = decode_request(nested, INPUTS, OUTPUTS)
    np.testing.assert_array_equal(feed["features"], feed2["features"])
    assert outs2 == ["label"] and rid2 == "r1"


@pytest.mark.parametrize("raw, message", [
    (b"{not json", "not valid JSON"),
    (b"[]", "must be a JSON object"),
    (b'{"inputs": []}', "non-empty 'inputs'"),
    (body(name="x"), "unknown input 'x'"),
    (body(datatype="FP64"), "datatype 'FP64' but the model expects 'FP32'"),
    (body(shape=[2, 3]), "has 8 values but shape \\[2, 3\\] needs 6"),
    (body(shape=[1, 8]), "shape \\[1, 8\\] but the model expects \\[-1, 4\\]"),
    (body(shape="2x4"), "list of non-negative integers"),
    (body(data=["a", "b"]), "not a \\(nested\\) list of FP32"),
    (body(data=None), "has no 'data'"),
    (orjson.dumps({"inputs": [{"name": "features", "shape": [1, 4], "datatype": "FP32",
                               "data": [1, 2, 3, 4]}], "outputs": [{"name": "nope"}]}),
     "unknown output 'nope'"),
])
def test_decode_errors(raw, message):
    with pytest.raises(BadRequest, match=message):
        decode_request(raw, INPUTS, OUTPUTS)


def test_missing_input_is_named():
    two = {**INPUTS, "mask": TensorSpec("mask", "INT64", (-1,))}
    with pytest.raises(BadRequest, match="missing input\\(s\\) 'mask'"):
        decode_request(body(), two, OUTPUTS)


def test_encode_response_shapes_and_types():
    out = orjson.loads(encode_response("m", "v1", "r1", {
        "probabilities": np.array([[0.25, 0.75]], dtype=np.float32),
        "label": np.array([1], dtype=np.int64),
        "half": np.array([0.5], dtype=np.float16),
        "text": np.array(["a", "b"], dtype=object),
    }))
    assert out["model_name"] == "m" and out["model_version"] == "v1" and out["id"] == "r1"
    by = {o["name"]: o for o in out["outputs"]}
    assert by["probabilities"] == {"name": "probabilities", "datatype": "FP32", "shape": [1, 2],
                                   "data": [0.25, 0.75]}
    assert by["label"]["datatype"] == "INT64" and by["label"]["data"] == [1]
    assert by["half"]["datatype"] == "FP16" and by["half"]["data"] == [0.5]
    assert by["text"]["datatype"] == "BYTES" and by["text"]["data"] == ["a", "b"]
