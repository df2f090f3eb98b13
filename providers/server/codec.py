"""Open Inference Protocol (KServe V2) JSON: request decoding, response encoding.

The per-request path: one ``orjson.loads``, one ``np.asarray`` per input, a
few dict look-ups for validation, one ``orjson.dumps`` that writes numpy
arrays natively. No pydantic, no intermediate objects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mlform.providers.server.runners import NUMPY_TO_V2, V2_TO_NUMPY, TensorSpec
from mlform.providers.server.largejson import SPAN_KEY, loads_with_spans, parse_numbers
from mlform.providers.server.binary import (
    BinaryDataError, binary_outputs, decode_tensor, encode_binary_response,
)

_DUMPS_OPTS = orjson.OPT_SERIALIZE_NUMPY
_SLICE_VALUES = 1 << 16  # outputs larger than this are written in slices of it


class BadRequest(Exception):
    """The request is malformed or does not fit the model; answered with 400."""


def decode_request(body: bytes, inputs: dict[str, TensorSpec], outputs: frozenset[str],
                   what: str = "input", header_length: int | None = None, large: bool = False,
                   ) -> tuple[dict[str, np.ndarray], list[str] | None, Any, frozenset[str]]:
    """Parse a V2 infer request against a version's input specs.

    ``what`` names the inputs in messages ("prompt variable" for a version
    serving a prompt, whose inputs are the prompt's variables).
    ``header_length`` is the ``Inference-Header-Content-Length`` header of the
    binary extension (docs in :mod:`.binary`): the JSON is then the body's
    first ``header_length`` bytes and binary input data follows it. Returns the
    feed (input name -> array), the requested output names (``None``: all), the
    request ``id`` (``None`` when absent) and the outputs to answer as binary data.
    ``large`` parses numeric arrays in GIL-releasing slices (:mod:`.largejson`), for
    big bodies decoded on a worker thread.
    """
    binary: memoryview | None = None
    if header_length is not None:
        if not 0 < header_length <= len(body):
            raise BadRequest(f"Inference-Header-Content-Length is {header_length} but the "
                             f"body has {len(body)} bytes")
        binary = memoryview(body)[header_length:]
        body = body[:header_length]
    spans: list[bytes] = []
    try:
        if large:
            req, spans = loads_with_spans(body)
        else:
            req = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"request body is not valid JSON: {e}") from None
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object with an 'inputs' list")
    items = req.get("inputs")
    if not isinstance(items, list) or not items:
        raise BadRequest("request needs a non-empty 'inputs' list")
    feed: dict[str, np.ndarray] = {}
    offset = 0
    for item in items:
        name, arr, used = _decode_input(item, inputs, what, binary, offset, spans)
        if name in feed:
            raise BadRequest(f"{what} {name!r} is given twice")
        feed[name] = arr
        offset += used
    if binary is not None and offset != len(binary):
        raise BadRequest(f"the request carries {len(binary)} bytes of binary data but its "
                         f"inputs' binary_data_size add up to {offset}")
    if len(feed) != len(inputs):
        missing = [n for n in inputs if n not in feed]
        raise BadRequest(f"missing {what}(s) {', '.join(map(repr, missing))}; the model expects "
                         f"{', '.join(map(repr, inputs))}")
    wanted = req.get("outputs")
    names: list[str] | None = None
    if wanted is not None:
        if not isinstance(wanted, list):
            raise BadRequest("'outputs' must be a list of {\"name\": ...} objects")
        names = []
        for o in wanted:
            n = o.get("name") if isinstance(o, dict) else None
            if n not in outputs:
                raise BadRequest(f"unknown output {n!r}; the model has "
                                 f"{', '.join(map(repr, sorted(outputs)))}")
            names.append(n)
        names = names or None
    return feed, names, req.get("id"), binary_outputs(req, wanted, outputs)


def _decode_input(item: Any, inputs: dict[str, TensorSpec], what: str,
                  binary: memoryview | None, offset: int, spans: list[bytes],
                  ) -> tuple[str, np.ndarray, int]:
    """(name, array, bytes of binary data used) of one request input."""
    if not isinstance(item, dict):
        raise BadRequest("each input must be an object with name, shape, datatype and data")
    name = item.get("name")
    spec = inputs.get(name) if isinstance(name, str) else None
    if spec is None:
        raise BadRequest(f"unknown {what} {name!r}; the model expects "
                         f"{', '.join(map(repr, inputs))}")
    datatype = item.get("datatype")
    if datatype != spec.datatype:
        raise BadRequest(f"input {name!r} has datatype {datatype!r} but the model expects "
                         f"{spec.datatype!r}")
    shape = item.get("shape")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise BadRequest(f"input {name!r} needs 'shape' as a list of non-negative integers")
    size = 1
    for d in shape:
        size *= d
    params = item.get("parameters")
    nbytes = params.get("binary_data_size") if isinstance(params, dict) else None
    used = 0
    if nbytes is not None:
        if binary is None:
            raise BadRequest(f"input {name!r} has binary_data_size but the request has no "
                             "Inference-Header-Content-Length header")
        if type(nbytes) is not int or nbytes < 0 or offset + nbytes > len(binary):
            raise BadRequest(f"input {name!r} has binary_data_size {nbytes!r} but only "
                             f"{len(binary) - offset} bytes of binary data are left")
        try:
            arr = decode_tensor(binary[offset:offset + nbytes], spec.datatype, size, spec.name)
        except BinaryDataError as e:
            raise BadRequest(str(e)) from None
        used = nbytes
    else:
        data = item.get("data")
        if data is None:
            raise BadRequest(f"input {name!r} has no 'data'")
        parsed = None
        index = data.get(SPAN_KEY) if spans and isinstance(data, dict) else None
        if type(index) is int and 0 <= index < len(spans):
            text = spans[index]
            parsed = parse_numbers(text, V2_TO_NUMPY[datatype])
            if parsed is None:  # not plain numbers: the slow path, for its message
                try:
                    data = orjson.loads(text)
                except orjson.JSONDecodeError as e:
                    raise BadRequest(f"request body is not valid JSON: {e}") from None
        try:
            arr = parsed if parsed is not None else np.asarray(data, dtype=V2_TO_NUMPY[datatype])
        except (ValueError, TypeError, OverflowError):
            raise BadRequest(f"input {name!r}: 'data' is not a (nested) list of "
                             f"{datatype} values of one shape") from None
        if arr.size != size:
            raise BadRequest(f"input {name!r} has {arr.size} values but shape {shape} needs {size}")
    if arr.shape != tuple(shape):
        arr = arr.reshape(shape)
    check_shape(spec.name, shape, spec)
    return spec.name, arr, used


def check_shape(name: str, shape: list[int], spec: TensorSpec) -> None:
    """Refuse a ``shape`` that does not fit the model's (``-1`` dimensions are free)."""
    expected = spec.shape
    if expected and (len(expected) != len(shape) or any(
            e >= 0 and e != d for e, d in zip(expected, shape))):
        raise BadRequest(f"input {name!r} has shape {shape} but the model expects "
                         f"{list(expected)} (-1: any size)")


def encode_response(model_name: str, version_id: str, request_id: Any,
                    outputs: dict[str, np.ndarray]) -> bytes:
    """The V2 infer response body."""
    body: dict[str, Any] = {"model_name": model_name, "model_version": version_id}
    if request_id is not None:
        body["id"] = request_id
    body["outputs"] = [_encode_output(n, a) for n, a in outputs.items()]
    return orjson.dumps(body, option=_DUMPS_OPTS, default=_default)


def encode_binary(model_name: str, version_id: str, request_id: Any,
                  outputs: dict[str, np.ndarray], binary: frozenset[str]) -> tuple[bytes, int]:
    """The response with the outputs in ``binary`` as binary data; (body, JSON header length)."""
    head: dict[str, Any] = {"model_name": model_name, "model_version": version_id}
    if request_id is not None:
        head["id"] = request_id
    return encode_binary_response(head, outputs, binary, _encode_output)


def _encode_output(name: str, arr: np.ndarray) -> dict[str, Any]:
    arr = np.asarray(arr)
    datatype = NUMPY_TO_V2.get(arr.dtype, "BYTES")
    flat = arr.reshape(-1)
    if flat.dtype.kind in "OSU" or not flat.flags.c_contiguous:
        data: Any = [x.decode() if isinstance(x, bytes) else x for x in flat.tolist()]
    elif flat.size > _SLICE_VALUES:
        # Written slice by slice: one orjson call over millions of values would hold the
        # GIL (and stall the event loop) for its whole length, even on a worker thread.
        data = orjson.Fragment(b"[" + b",".join(
            orjson.dumps(flat[i:i + _SLICE_VALUES], option=_DUMPS_OPTS)[1:-1]
            for i in range(0, flat.size, _SLICE_VALUES)) + b"]")
    else:
        data = flat
    return {"name": name, "datatype": datatype, "shape": list(arr.shape), "data": data}


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def error_body(message: str) -> bytes:
    """``{"error": message}``, the V2 error shape."""
    return orjson.dumps({"error": message})
