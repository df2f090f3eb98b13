"""V2 decoding and encoding: JSON, and the binary tensor data extension."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from mlform.providers.server.runners import TensorSpec
import struct

from mlform.providers.server.codec import (
    BadRequest, decode_request, encode_binary, encode_response,
)

INPUTS = {"features": TensorSpec("features", "FP32", (-1, 4))}
OUTPUTS = frozenset({"probabilities", "label"})


def body(**kw):
    req = {"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                       "data": [1, 2, 3, 4, 5, 6, 7, 8]}]}
    req["inputs"][0].update(kw)
    return orjson.dumps(req)


def test_decode_flat_and_nested():
    feed, outs, rid, binary = decode_request(body(), INPUTS, OUTPUTS)
    assert feed["features"].shape == (2, 4) and feed["features"].dtype == np.float32
    assert outs is None and rid is None and binary == frozenset()
    nested = orjson.dumps({"id": "r1", "outputs": [{"name": "label"}], "inputs": [
        {"name": "features", "shape": [2, 4], "datatype": "FP32",
         "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}]})
    feed2, outs2, rid2, _ = decode_request(nested, INPUTS, OUTPUTS)
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


def binary_request(header: dict, *blobs: bytes) -> tuple[bytes, int]:
    head = orjson.dumps(header)
    return head + b"".join(blobs), len(head)


def test_binary_input_and_outputs_chosen_per_output():
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    raw, n = binary_request({"inputs": [{"name": "features", "shape": [2, 4], "datatype": "FP32",
                                         "parameters": {"binary_data_size": 32}}],
                             "outputs": [{"name": "label", "parameters": {"binary_data": True}},
                                         {"name": "probabilities"}]}, x.tobytes())
    feed, outs, _, binary = decode_request(raw, INPUTS, OUTPUTS, header_length=n)
    np.testing.assert_array_equal(feed["features"], x)
    assert outs == ["label", "probabilities"] and binary == {"label"}


def test_binary_data_output_covers_all_outputs_unless_one_says_otherwise():
    x = np.zeros((1, 4), dtype=np.float32).tobytes()
    inp = [{"name": "features", "shape": [1, 4], "datatype": "FP32",
            "parameters": {"binary_data_size": 16}}]
    raw, n = binary_request({"inputs": inp, "parameters": {"binary_data_output": True}}, x)
    assert decode_request(raw, INPUTS, OUTPUTS, header_length=n)[3] == OUTPUTS
    raw, n = binary_request({"inputs": inp, "parameters": {"binary_data_output": True},
                             "outputs": [{"name": "label"}, {"name": "probabilities",
                                          "parameters": {"binary_data": False}}]}, x)
    assert decode_request(raw, INPUTS, OUTPUTS, header_length=n)[3] == {"label"}


def test_binary_bytes_elements_are_length_prefixed():
    words = [b"hi", "h\u00e9".encode(), b""]
    blob = b"".join(struct.pack("<I", len(w)) + w for w in words)
    specs = {"text": TensorSpec("text", "BYTES", (-1,))}
    raw, n = binary_request({"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES",
                                         "parameters": {"binary_data_size": len(blob)}}]}, blob)
    feed, *_ = decode_request(raw, specs, OUTPUTS, header_length=n)
    assert feed["text"].tolist() == ["hi", "h\u00e9", ""]


def _fp32(size_param, blob=b"\0" * 16, shape=(1, 4), header_length=None):
    raw, n = binary_request({"inputs": [{"name": "features", "shape": list(shape),
                                         "datatype": "FP32",
                                         "parameters": {"binary_data_size": size_param}}]}, blob)
    return raw, n if header_length is None else header_length


@pytest.mark.parametrize("raw_n, message", [
    (_fp32(12, b"\0" * 12), "has 12 bytes of binary data but 4 FP32 values take 16"),
    (_fp32(32), "binary_data_size 32 but only 16 bytes of binary data are left"),
    (_fp32(16, b"\0" * 24), "carries 24 bytes of binary data but its inputs' binary_data_size add up to 16"),
    (_fp32(16, header_length=10**6), "Inference-Header-Content-Length is 1000000"),
    (_fp32("16"), "binary_data_size '16'"),
])
def test_binary_errors(raw_n, message):
    raw, n = raw_n
    with pytest.raises(BadRequest, match=message):
        decode_request(raw, INPUTS, OUTPUTS, header_length=n)


def test_binary_size_without_the_header_is_refused():
    raw, _ = _fp32(16)
    with pytest.raises(BadRequest, match="no Inference-Header-Content-Length"):
        decode_request(raw[:raw.index(b"\0")], INPUTS, OUTPUTS)


def test_bytes_element_running_past_the_end():
    specs = {"text": TensorSpec("text", "BYTES", (-1,))}
    blob = struct.pack("<I", 9) + b"abc"
    raw, n = binary_request({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES",
                                         "parameters": {"binary_data_size": len(blob)}}]}, blob)
    with pytest.raises(BadRequest, match="element of 9 bytes runs past the end"):
        decode_request(raw, specs, OUTPUTS, header_length=n)


def test_encode_binary_response():
    probs = np.array([[0.25, 0.75]], dtype=np.float32)
    text = np.array(["ab", b"c"], dtype=object)
    payload, n = encode_binary("m", "v1", None, {"probabilities": probs, "text": text,
                                                 "label": np.array([1], dtype=np.int64)},
                               frozenset({"probabilities", "text"}))
    head = orjson.loads(payload[:n])
    by = {o["name"]: o for o in head["outputs"]}
    assert by["probabilities"]["parameters"] == {"binary_data_size": 8}
    assert "data" not in by["probabilities"] and by["label"]["data"] == [1]
    assert by["text"]["datatype"] == "BYTES"
    rest = payload[n:]
    np.testing.assert_array_equal(np.frombuffer(rest[:8], "<f4").reshape(1, 2), probs)
    assert rest[8:] == struct.pack("<I", 2) + b"ab" + struct.pack("<I", 1) + b"c"
