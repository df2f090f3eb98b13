"""Decoding a large JSON infer request without holding the GIL for its whole length.

``orjson.loads`` and ``np.asarray(list)`` hold the GIL throughout: on an 87 MB
body, 0.5 s and 0.2 s during which the event loop (liveness, every other
client) cannot run, even from a worker thread. Here the numeric ``"data"``
arrays are cut out of the body first; the small rest is parsed by orjson, and
each array is parsed by ``np.fromstring(sep=",")``, which releases the GIL,
in slices of about 1 MiB. Used on a worker thread for bodies above
``infer.OFFLOAD_BODY_BYTES``; small bodies take the plain path.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import orjson

SPAN_KEY = "$mlform_span"
_SLICE = 1 << 20
_BRACKETS = bytes.maketrans(b"[]", b"  ")
_WS = b" \t\r\n"
# Older numpy warns (newer raises) when a slice does not parse to its end; either way the
# slow path then gives the message.
warnings.filterwarnings("ignore", message="string or file could not be read to its end",
                        category=DeprecationWarning)


def loads_with_spans(body: bytes) -> tuple[Any, list[bytes]]:
    """The request with each numeric ``"data": [...]`` replaced by ``{SPAN_KEY: i}``, and
    the arrays' texts. Arrays holding a string are left in place (BYTES data)."""
    spans: list[bytes] = []
    pieces: list[bytes] = []
    pos = start = 0
    while True:
        key = body.find(b'"data"', pos)
        if key < 0:
            break
        i = key + 6
        while i < len(body) and body[i] in _WS:
            i += 1
        if i >= len(body) or body[i] != 0x3A:  # ':' - "data" was a value, not a key
            pos = key + 6
            continue
        i += 1
        while i < len(body) and body[i] in _WS:
            i += 1
        end = _array_end(body, i) if i < len(body) and body[i] == 0x5B else -1
        if end < 0 or body.find(b'"', i, end) >= 0:
            pos = key + 6
            continue
        pieces.append(body[start:i])
        pieces.append(b'{"%s":%d}' % (SPAN_KEY.encode(), len(spans)))
        spans.append(body[i:end])
        pos = start = end
    if not spans:
        return orjson.loads(body), spans
    pieces.append(body[start:])
    return orjson.loads(b"".join(pieces)), spans


def _array_end(body: bytes, i: int) -> int:
    """The index after the ``]`` closing the array opened at ``body[i]``, or -1."""
    depth = 0
    pos = i
    while True:
        o = body.find(b"[", pos)
        c = body.find(b"]", pos)
        if c < 0:
            return -1
        if 0 <= o < c:
            depth += 1
            pos = o + 1
        else:
            depth -= 1
            pos = c + 1
            if depth == 0:
                return pos


def parse_numbers(text: bytes, dtype: Any) -> np.ndarray | None:
    """A flat array of the numbers in a (nested) JSON array's text, or ``None`` when it
    holds something else (the caller then parses it the slow way for its message)."""
    if np.dtype(dtype).kind not in "iuf":
        return None
    parts: list[np.ndarray] = []
    pos, n = 0, len(text)
    while pos < n:
        cut = n if n - pos <= _SLICE else text.find(b",", pos + _SLICE)
        if cut < 0:
            cut = n
        piece = text[pos:cut].translate(_BRACKETS)
        try:
            arr = np.fromstring(piece, dtype=dtype, sep=",")
        except ValueError:  # numpy 2.x: text that does not parse to its end
            return None
        if arr.size != piece.count(b",") + (1 if piece.strip(b" \t\r\n,") else 0):
            return None
        parts.append(arr)
        pos = cut + 1
    return np.concatenate(parts) if len(parts) != 1 else parts[0]
