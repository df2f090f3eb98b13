"""The binary tensor data extension of the V2 protocol, as Triton and its clients speak it.

A request with an ``Inference-Header-Content-Length: N`` header carries a JSON
header in its first ``N`` bytes and, after it, the raw bytes of every input
whose ``parameters`` hold ``binary_data_size`` (in the order of ``inputs``).
Tensors are little-endian, row-major; a BYTES tensor is each element as a
4-byte little-endian length and that many bytes. An output is sent the same
way when the request asks for it (``outputs[*].parameters.binary_data``, or
``parameters.binary_data_output`` for every output not saying otherwise): its
JSON entry then has ``parameters.binary_data_size`` and no ``data``.
"""

from __future__ import annotations

import struct
from typing import Any, Collection

import numpy as np
import orjson

from mlform.providers.server.runners import NUMPY_TO_V2, V2_TO_NUMPY

HEADER = b"inference-header-content-length"
_LEN = struct.Struct("<I")


class BinaryDataError(ValueError):
    """Binary tensor data that does not fit its input; the message says how."""


def decode_tensor(raw: memoryview, datatype: str, size: int, name: str) -> np.ndarray:
    """A flat array of ``size`` elements from an input's binary data."""
    if datatype == "BYTES":
        return _decode_bytes(raw, size, name)
    dtype = np.dtype(V2_TO_NUMPY[datatype]).newbyteorder("<")
    if len(raw) != size * dtype.itemsize:
        raise BinaryDataError(
            f"input {name!r} has {len(raw)} bytes of binary data but {size} {datatype} "
            f"values take {size * dtype.itemsize}")
    return np.frombuffer(raw, dtype=dtype)


def _decode_bytes(raw: memoryview, size: int, name: str) -> np.ndarray:
    items: list[Any] = []
    pos, end = 0, len(raw)
    unpack = _LEN.unpack_from
    while pos < end:
        if pos + 4 > end:
            raise BinaryDataError(f"input {name!r}: BYTES data ends inside an element's length")
        (n,) = unpack(raw, pos)
        pos += 4
        if pos + n > end:
            raise BinaryDataError(f"input {name!r}: a BYTES element of {n} bytes runs past "
                                  f"the end of its binary data")
        b = bytes(raw[pos:pos + n])
        pos += n
        try:
            items.append(b.decode())
        except UnicodeDecodeError:  # not text: the model gets the bytes as they are
            items.append(b)
    if len(items) != size:
        raise BinaryDataError(f"input {name!r} has {len(items)} BYTES elements in its binary "
                              f"data but its shape needs {size}")
    arr = np.empty(size, dtype=object)
    arr[:] = items
    return arr


def encode_tensor(arr: np.ndarray) -> tuple[str, bytes]:
    """(V2 datatype, raw bytes) of an output array, as the extension sends it."""
    datatype = NUMPY_TO_V2.get(arr.dtype, "BYTES")
    if datatype == "BYTES":
        parts: list[bytes] = []
        for x in arr.reshape(-1).tolist():
            b = x if isinstance(x, bytes) else str(x).encode()
            parts.append(_LEN.pack(len(b)))
            parts.append(b)
        return datatype, b"".join(parts)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    return datatype, np.ascontiguousarray(arr).tobytes()


def encode_binary_response(head: dict[str, Any], outputs: dict[str, np.ndarray],
                           binary: Collection[str], json_output: Any) -> tuple[bytes, int]:
    """The response body (JSON header, then the binary outputs) and the header's length.

    ``head`` holds model_name, model_version and id; outputs named in ``binary``
    are sent as raw bytes, the others through ``json_output(name, array)``.
    """
    entries: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name, arr in outputs.items():
        if name in binary:
            arr = np.asarray(arr)
            datatype, raw = encode_tensor(arr)
            entries.append({"name": name, "datatype": datatype, "shape": list(arr.shape),
                            "parameters": {"binary_data_size": len(raw)}})
            blobs.append(raw)
        else:
            entries.append(json_output(name, arr))
    header = orjson.dumps({**head, "outputs": entries}, option=orjson.OPT_SERIALIZE_NUMPY)
    return b"".join([header, *blobs]), len(header)


def binary_outputs(req: dict[str, Any], wanted: list[Any] | None,
                   all_outputs: frozenset[str]) -> frozenset[str]:
    """The outputs the request wants as binary data (empty: answer in plain JSON)."""
    params = req.get("parameters")
    default = bool(params.get("binary_data_output")) if isinstance(params, dict) else False
    if not wanted:
        return all_outputs if default else frozenset()
    chosen = set()
    for o in wanted:
        p = o.get("parameters")
        flag = p.get("binary_data", default) if isinstance(p, dict) else default
        if flag:
            chosen.add(o["name"])
    return frozenset(chosen)
