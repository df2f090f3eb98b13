"""Decoding a large JSON infer request without holding the GIL for its whole length.

``orjson.loads`` and ``np.asarray(list)`` hold the GIL throughout: on an 87 MB
body, 0.5 s and 0.2 s during which the event loop (liveness, every other
client) cannot run, even from a worker thread. Here the numeric ``"data"``
arrays are cut out of the body first; the small rest is parsed by orjson, and
each array is parsed by ``np.fromstring(sep=",")``, which releases the GIL,
in slices of about 1 MiB. Used on a worker thread for JSON above
``infer.SLICED_JSON_BYTES``; smaller bodies take the plain path (on the worker thread
above ``infer.OFFLOAD_BODY_BYTES``).
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
    """The index after the ``]`` closing the array opened at ``body[i]``, or -1.

    The nesting depth is counted by numpy over slices of about 1 MiB (a running sum of
    ``[`` as +1 and ``]`` as -1; the array ends where it is first back to 0): a Python
    loop over the brackets of an 800,000-row array took ~0.15 s of the GIL in 5 ms turns,
    and every liveness answer waited for its turn."""
    depth, pos, n = 0, i, len(body)
    while pos < n:
        chunk = np.frombuffer(body, np.uint8, count=min(_SLICE, n - pos), offset=pos)
        steps = (chunk == 0x5B).astype(np.int32)
        steps -= chunk == 0x5D
        levels = np.cumsum(steps)
        levels += depth
        closed = np.flatnonzero(levels == 0)
        if closed.size:
            return pos + int(closed[0]) + 1
        depth = int(levels[-1])
        pos += chunk.size
    return -1


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
