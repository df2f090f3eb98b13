"""Type conversion and number functions: tostring, tonumber, tobool, tolist,
toset, tomap, min, max, abs, ceil, floor.

A set is represented as a list without duplicates in a fixed order (numbers
by value, strings lexicographically, ``false`` before ``true``, null last).
"""

from __future__ import annotations

import math
from typing import Any

from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
    arg_number,
    fail,
    hcl_type,
)
from mlform.engine.expr.functions._numbers import (
    NumberParseError,
    is_number,
    normalize_number,
    parse_number,
)
from mlform.engine.expr.functions._types import (
    canonical_key,
    convert,
    convert_to_string,
    set_sort_key,
    type_of,
    unify,
)


def _tostring(ctx: FunctionContext, v: Any) -> str | None:
    if v is None:
        return None
    s = convert_to_string(v)
    if s is None:
        fail(0, "v", f"cannot convert {hcl_type(v)} to string.")
    return s


def _tonumber(ctx: FunctionContext, v: Any) -> int | float | None:
    if v is None:
        return None
    if is_number(v):
        return normalize_number(v)
    if isinstance(v, str):
        try:
            return parse_number(v)
        except NumberParseError:
            fail(0, "v", f'cannot convert "{v}" to number; given string must be a decimal '
                         "representation of a number.")
    fail(0, "v", f"cannot convert {hcl_type(v)} to number.")


def _tobool(ctx: FunctionContext, v: Any) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return bool(v == "true")
    if isinstance(v, str):
        fail(0, "v", f'cannot convert "{v}" to bool; only the strings "true" or "false" are allowed.')
    fail(0, "v", f"cannot convert {hcl_type(v)} to bool.")


def _single_type_list(v: Any, kind: str) -> list[Any]:
    if not isinstance(v, (list, tuple)):
        fail(0, "v", f"cannot convert {hcl_type(v)} to {kind} of any single type.")
    t = unify([type_of(x) for x in v])
    if t is None:
        fail(0, "v", f"cannot convert tuple to {kind} of any single type: the elements have types "
                     "that do not convert to one another (only numbers and bools convert to strings).")
    return [convert(x, t) for x in v]


def _tolist(ctx: FunctionContext, v: Any) -> list[Any] | None:
    if v is None:
        return None
    return _single_type_list(v, "list")


def _toset(ctx: FunctionContext, v: Any) -> list[Any] | None:
    if v is None:
        return None
    unique: dict[str, Any] = {}
    for x in _single_type_list(v, "set"):
        unique.setdefault(canonical_key(x), x)
    return sorted(unique.values(), key=set_sort_key)


def _tomap(ctx: FunctionContext, v: Any) -> dict[str, Any] | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        fail(0, "v", f"cannot convert {hcl_type(v)} to map of any single type.")
    t = unify([type_of(x) for x in v.values()], nulls="ignore")
    if t is None:
        fail(0, "v", "cannot convert object to map of any single type: the attribute values have "
                     "types that do not convert to one another (only numbers and bools convert to strings).")
    return {k: convert(x, t) for k, x in v.items()}


def _numbers(args: tuple[Any, ...]) -> list[int | float]:
    if not args:
        raise FunctionError("must pass at least one number.")
    return [arg_number(a, i, "numbers") for i, a in enumerate(args)]


def _min(ctx: FunctionContext, *numbers: Any) -> int | float:
    return normalize_number(min(_numbers(numbers)))


def _max(ctx: FunctionContext, *numbers: Any) -> int | float:
    return normalize_number(max(_numbers(numbers)))


def _abs(ctx: FunctionContext, num: Any) -> int | float:
    return normalize_number(abs(arg_number(num, 0, "num")))


def _ceil(ctx: FunctionContext, num: Any) -> int | float:
    n = arg_number(num, 0, "num")
    return n if isinstance(n, float) and math.isinf(n) else math.ceil(n)


def _floor(ctx: FunctionContext, num: Any) -> int | float:
    n = arg_number(num, 0, "num")
    return n if isinstance(n, float) and math.isinf(n) else math.floor(n)


SPECS = [
    FunctionSpec("tostring", _tostring, 1, 1, False,
                 "Converts a string, number or bool to a string (null stays null).", ("v",)),
    FunctionSpec("tonumber", _tonumber, 1, 1, False,
                 "Converts a number or a decimal string to a number (null stays null).", ("v",)),
    FunctionSpec("tobool", _tobool, 1, 1, False,
                 'Converts a bool or the strings "true"/"false" to a bool (null stays null).', ("v",)),
    FunctionSpec("tolist", _tolist, 1, 1, False,
                 "Converts a tuple to a list whose elements all have one type.", ("v",)),
    FunctionSpec("toset", _toset, 1, 1, False,
                 "Converts a tuple to a set: one element type, no duplicates, sorted.", ("v",)),
    FunctionSpec("tomap", _tomap, 1, 1, False,
                 "Converts an object to a map whose values all have one type.", ("v",)),
    FunctionSpec("min", _min, 0, None, False, "The smallest of one or more numbers.", ("numbers",)),
    FunctionSpec("max", _max, 0, None, False, "The largest of one or more numbers.", ("numbers",)),
    FunctionSpec("abs", _abs, 1, 1, False, "The absolute value of a number.", ("num",)),
    FunctionSpec("ceil", _ceil, 1, 1, False, "The smallest whole number not less than a number.", ("num",)),
    FunctionSpec("floor", _floor, 1, 1, False, "The largest whole number not greater than a number.", ("num",)),
]
