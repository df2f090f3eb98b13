"""Large JSON requests decoded in GIL-releasing slices give what the plain decoder gives."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from mlform.providers.server.runners import TensorSpec
from mlform.providers.server import largejson
from mlform.providers.server.codec import BadRequest, decode_request, encode_response

SPECS = {"x": TensorSpec("x", "FP32", (-1, -1)), "ids": TensorSpec("ids", "INT64", (-1,)),
         "text": TensorSpec("text", "BYTES", (-1,)), "flag": TensorSpec("flag", "BOOL", (-1,))}
OUTS = frozenset({"y"})


def request(x, ids, nested=False):
    return orjson.dumps({"id": "data", "parameters": {"data": [1, 2]}, "inputs": [
        {"name": "x", "shape": list(x.shape), "datatype": "FP32",
         "data": x.tolist() if nested else x.ravel().tolist()},
        {"name": "ids", "shape": [len(ids)], "datatype": "INT64", "data": ids.tolist()},
        {"name": "text", "shape": [2], "datatype": "BYTES", "data": ["a]b", "[data"]},
        {"name": "flag", "shape": [2], "datatype": "BOOL", "data": [True, False]}]})


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    monkeypatch.setattr(largejson, "_SLICE", 64)  # many slices even on a small body


@pytest.mark.parametrize("nested", [False, True])
def test_same_result_as_the_plain_decoder(nested):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 7)).astype(np.float32)
    ids = rng.integers(-2**62, 2**62, size=50)
    body = request(x, ids, nested)
    plain = decode_request(body, SPECS, OUTS)
    large = decode_request(body, SPECS, OUTS, large=True)
    assert plain[1:] == large[1:]
    for name in SPECS:
        np.testing.assert_array_equal(plain[0][name], large[0][name])
        assert plain[0][name].dtype == large[0][name].dtype
    np.testing.assert_array_equal(large[0]["x"], x)
    np.testing.assert_array_equal(large[0]["ids"], ids)


@pytest.mark.parametrize("data, message, large_message", [
    ([1, 2, "x"], "not a \\(nested\\) list of FP32", None),
    ([1, 2], "has 2 values but shape \\[3\\] needs 3", None),
    ([1, 2, {}], "not a \\(nested\\) list", None),
    # Ragged nesting is counted, not walked: refused when the count is off.
    ([1, [2, 3], 4], "not a \\(nested\\) list", "has 4 values but shape \\[3\\] needs 3"),
])
def test_errors_match_the_plain_decoders(data, message, large_message):
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": data}]})
    specs = {"x": TensorSpec("x", "FP32", (-1,))}
    with pytest.raises(BadRequest, match=message):
        decode_request(body, specs, OUTS)
    with pytest.raises(BadRequest, match=large_message or message):
        decode_request(body, specs, OUTS, large=True)


def test_integers_sent_as_floats_and_malformed_text():
    specs = {"ids": TensorSpec("ids", "INT64", (-1,))}
    ok = b'{"inputs": [{"name": "ids", "shape": [3], "datatype": "INT64", "data": [1, 2.0, 3]}]}'
    assert decode_request(ok, specs, OUTS, large=True)[0]["ids"].tolist() == [1, 2, 3]
    bad = b'{"inputs": [{"name": "ids", "shape": [3], "datatype": "INT64", "data": [1,,3]}]}'
    with pytest.raises(BadRequest, match="not valid JSON"):
        decode_request(bad, specs, OUTS, large=True)


def test_large_outputs_are_written_in_slices_with_the_same_text(monkeypatch):
    from mlform.providers.server import codec

    y = np.random.default_rng(2).normal(size=(100, 3)).astype(np.float32)
    whole = encode_response("m", "v", None, {"y": y})
    monkeypatch.setattr(codec, "_SLICE_VALUES", 7)
    assert encode_response("m", "v", None, {"y": y}) == whole
