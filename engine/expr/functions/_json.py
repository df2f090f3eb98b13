"""JSON as Terraform writes and reads it.

Terraform's ``jsonencode`` is Go's ``encoding/json``: compact, object keys
sorted, ``<``, ``>`` and ``&`` escaped as ``\\u003c``/``\\u003e``/``\\u0026``,
U+2028 and U+2029 escaped, other non-ASCII left as UTF-8, numbers without
exponent or trailing ``.0``.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from mlform.engine.expr.functions._numbers import (
    is_number,
    normalize_number,
    number_to_string,
)

_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f",
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
}
_NEEDS_ESCAPE = re.compile('["\\\\<>&\u2028\u2029\x00-\x1f\ud800-\udfff]')
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONEncodeError(ValueError):
    """A value JSON cannot hold (an infinite number)."""


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if "\ud800" <= ch <= "\udfff":
        return "\\ufffd"  # Go replaces invalid UTF-8 with U+FFFD
    return f"\\u{ord(ch):04x}"


def encode_string(s: str) -> str:
    """``s`` as a JSON string literal, escaped as Go escapes it."""
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, s) + '"'


def encode(v: Any) -> str:
    """``v`` as compact JSON text, byte-for-byte what Terraform produces."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        if isinstance(v, float) and not math.isfinite(v):
            raise JSONEncodeError("an infinite or NaN number cannot be represented in JSON")
        return number_to_string(normalize_number(v))
    if isinstance(v, str):
        return encode_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(encode(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(encode_string(k) + ":" + encode(v[k]) for k in sorted(v)) + "}"
    raise JSONEncodeError(f"a {type(v).__name__} value cannot be represented in JSON")


def _parse_float(s: str) -> int | float:
    d = Decimal(s)
    if d == d.to_integral_value() and d.adjusted() < 1000:
        return int(d)
    f = float(s)
    if math.isinf(f):
        raise ValueError(f"the number {s} is too large")
    return normalize_number(f)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"invalid character {name[0]!r} looking for beginning of value")


def _fix_surrogates(v: Any) -> Any:
    # Python keeps an unpaired "\ud83d" escape as a lone surrogate; Go decodes
    # it as U+FFFD.
    if isinstance(v, str):
        return _LONE_SURROGATE.sub("\ufffd", v) if _LONE_SURROGATE.search(v) else v
    if isinstance(v, list):
        return [_fix_surrogates(x) for x in v]
    if isinstance(v, dict):
        return {_fix_surrogates(k): _fix_surrogates(x) for k, x in v.items()}
    return v


def decode(text: str) -> Any:
    """Parse JSON text; raises ``ValueError`` with a message for a person.

    Integers stay exact (``1e400`` is a 401-digit int), ``1.0`` is ``1``,
    duplicate keys keep the last value, and ``NaN``/``Infinity`` are refused
    as Go refuses them.
    """
    if not text.strip():
        raise ValueError("unexpected end of JSON input: the string is empty")
    try:
        v = json.loads(text, parse_float=_parse_float, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    return _fix_surrogates(v)
