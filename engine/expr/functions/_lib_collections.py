"""Collection functions: merge, concat, length, lookup, keys, values, contains,
coalesce, flatten, distinct, sort, element, index, zipmap, range.

Lists stand for HCL lists, tuples and sets alike; dicts for maps and objects.
Several of these accept arguments that are only partly known (a list with an
unknown element still has a known length) and set ``handles_unknown``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
    arg_int,
    arg_list,
    arg_map,
    arg_number,
    arg_string,
    fail,
    hcl_type,
    not_null,
)
from mlform.engine.expr.functions._numbers import normalize_number
from mlform.engine.expr.functions._text import grapheme_len, nfc
from mlform.engine.expr.functions._types import (
    STRING,
    canonical_key,
    convert,
    convert_to_string,
    strict_equal,
    type_of,
    unify,
)
from mlform.engine.values import UNKNOWN, contains_unknown

_RANGE_LIMIT = 1024


def _merge(ctx: FunctionContext, *maps: Any) -> Any:
    for i, m in enumerate(maps):
        if m is not None and m is not UNKNOWN and not isinstance(m, dict):
            raise FunctionError(
                f'Invalid value for "maps" parameter: arguments must be maps or objects, got "{hcl_type(m)}".', i)
    if any(m is UNKNOWN for m in maps):
        return UNKNOWN
    out: dict[str, Any] = {}
    for m in maps:
        if m is not None:
            out.update(m)
    return {k: out[k] for k in sorted(out)}


def _concat(ctx: FunctionContext, *seqs: Any) -> Any:
    for i, s in enumerate(seqs):
        not_null(s, i, "seqs")
        if s is not UNKNOWN and not isinstance(s, (list, tuple)):
            fail(i, "seqs", f"all arguments must be lists or tuples; got {hcl_type(s)}.")
    if any(s is UNKNOWN for s in seqs):
        return UNKNOWN
    return [x for s in seqs for x in s]


def _length(ctx: FunctionContext, value: Any) -> Any:
    if value is UNKNOWN:
        return UNKNOWN
    not_null(value, 0, "value")
    if isinstance(value, str):
        return grapheme_len(nfc(value))
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    fail(0, "value", f"argument must be a string, a collection type, or a structural type, "
                     f"got {hcl_type(value)}.")


def _lookup(ctx: FunctionContext, mapping: Any, key: Any, *default: Any) -> Any:
    if mapping is UNKNOWN:
        return UNKNOWN
    not_null(mapping, 0, "inputMap")
    if not isinstance(mapping, dict):
        fail(0, "inputMap", f"lookup() requires a map as the first argument, got {hcl_type(mapping)}.")
    if contains_unknown(key):
        return UNKNOWN
    k = arg_string(key, 1, "key")
    if k in mapping:
        return mapping[k]
    if default:
        return default[0]
    fail(0, "inputMap", f'the given object has no attribute "{k}"; '
                        "pass a default as the third argument to lookup() to allow a missing key.")


def _keys(ctx: FunctionContext, mapping: Any) -> Any:
    if mapping is UNKNOWN:
        return UNKNOWN
    return sorted(arg_map(mapping, 0, "inputMap"))


def _values(ctx: FunctionContext, mapping: Any) -> Any:
    if mapping is UNKNOWN:
        return UNKNOWN
    m = arg_map(mapping, 0, "mapping")
    return [m[k] for k in sorted(m)]


def _contains(ctx: FunctionContext, lst: Any, value: Any) -> bool:
    not_null(lst, 0, "list")
    if not isinstance(lst, (list, tuple)):
        fail(0, "list", f"argument must be list, tuple, or set, got {hcl_type(lst)}.")
    not_null(value, 1, "value")
    return any(strict_equal(x, value) for x in lst)


def _coalesce(ctx: FunctionContext, *vals: Any) -> Any:
    t = unify([type_of(v) for v in vals], nulls="dynamic")
    if t is None:
        raise FunctionError(
            "all arguments must have the same type, got " + ", ".join(hcl_type(v) for v in vals) + ".")
    for v in vals:
        if v is None:
            continue
        cv = convert(v, t)
        # Empty strings are skipped only when the arguments unify to string.
        if t == STRING and cv == "":
            continue
        return cv
    raise FunctionError("no non-null, non-empty-string arguments.")


def _flatten_into(out: list[Any], lst: list[Any] | tuple[Any, ...]) -> None:
    for x in lst:
        if isinstance(x, (list, tuple)):
            _flatten_into(out, x)
        else:
            out.append(x)


def _flatten(ctx: FunctionContext, lst: Any) -> list[Any]:
    not_null(lst, 0, "list")
    if not isinstance(lst, (list, tuple)):
        fail(0, "list", f"can only flatten lists, sets and tuples, got {hcl_type(lst)}.")
    out: list[Any] = []
    _flatten_into(out, lst)
    return out


def _as_single_type_list(v: Any, index: int, param: str) -> list[Any]:
    """Convert a tuple to a list of one element type, as Terraform does for list parameters."""
    lst = arg_list(v, index, param)
    t = unify([type_of(x) for x in lst])
    if t is None:
        fail(index, param, "list of any single type required; the elements have different types "
                           "that do not convert to one another.")
    return [convert(x, t) for x in lst]


def _distinct(ctx: FunctionContext, lst: Any) -> list[Any]:
    seen: set[str] = set()
    out: list[Any] = []
    for x in _as_single_type_list(lst, 0, "list"):
        key = canonical_key(x)
        if key not in seen:
            seen.add(key)
            out.append(x)
    return out


def _sort(ctx: FunctionContext, lst: Any) -> list[str]:
    strings: list[str] = []
    for i, x in enumerate(arg_list(lst, 0, "list")):
        if x is None:
            fail(0, "list", f"given list element {i} is null; a null string cannot be sorted.")
        s = convert_to_string(x)
        if s is None:
            fail(0, "list", f"element {i}: string required.")
        strings.append(s)
    return sorted(strings)


def _element(ctx: FunctionContext, lst: Any, index: Any) -> Any:
    if lst is UNKNOWN or contains_unknown(index):
        return UNKNOWN
    items = arg_list(lst, 0, "list")
    i = arg_int(index, 1, "index")
    if not items:
        fail(0, "list", "cannot use element function with an empty list.")
    if i < 0:
        fail(1, "index", "cannot use element function with a negative index.")
    return items[i % len(items)]


def _index(ctx: FunctionContext, lst: Any, value: Any) -> int:
    items = arg_list(lst, 0, "list")
    not_null(value, 1, "value")
    if not items:
        fail(0, "list", "cannot search an empty list.")
    for i, x in enumerate(items):
        if strict_equal(x, value):
            return i
    fail(1, "value", "item not found; use contains() to test for it first.")


def _zipmap(ctx: FunctionContext, keys: Any, values: Any) -> Any:
    if contains_unknown(keys) or values is UNKNOWN:
        return UNKNOWN
    key_list = arg_list(keys, 0, "keys")
    value_list = arg_list(values, 1, "values")
    names: list[str] = []
    for i, k in enumerate(key_list):
        if k is None:
            fail(0, "keys", f"keys list has null value at index {i}.")
        names.append(arg_string(k, 0, "keys"))
    if len(names) != len(value_list):
        raise FunctionError(
            f"number of keys ({len(names)}) does not match number of values ({len(value_list)}).")
    out = dict(zip(names, value_list))
    return {k: out[k] for k in sorted(out)}


def _decimal(x: int | float) -> Decimal:
    return Decimal(x) if isinstance(x, int) else Decimal(repr(x))


def _from_decimal(d: Decimal) -> int | float:
    if d == d.to_integral_value():
        return int(d)
    return normalize_number(float(d))


def _range(ctx: FunctionContext, *params: Any) -> list[Any]:
    nums = [_decimal(arg_number(p, i, "params")) for i, p in enumerate(params)]
    if len(nums) == 3:
        start, end, step = nums
    else:
        start, end = (Decimal(0), nums[0]) if len(nums) == 1 else (nums[0], nums[1])
        step = Decimal(-1) if end < start else Decimal(1)
    if step == 0:
        fail(2, "params", "step must not be zero.")
    down = step < 0
    if down and end > start:
        fail(1, "params", "end must be less than start when step is negative.")
    if not down and end < start:
        fail(1, "params", "end must be greater than start when step is positive.")
    out: list[Any] = []
    num = start
    while (num > end) if down else (num < end):
        if len(out) >= _RANGE_LIMIT:
            raise FunctionError(
                f"more than {_RANGE_LIMIT} values were generated; either decrease the difference "
                "between start and end or use a smaller step.")
        out.append(_from_decimal(num))
        num += step
    return out


SPECS = [
    FunctionSpec("merge", _merge, 0, None, True,
                 "Merges maps or objects; later arguments win for the same key; null arguments are skipped.",
                 ("maps",)),
    FunctionSpec("concat", _concat, 1, None, True, "Joins lists into one list.", ("seqs",)),
    FunctionSpec("length", _length, 1, 1, True,
                 "The number of elements of a list or map, or characters of a string.", ("value",)),
    FunctionSpec("lookup", _lookup, 2, 3, True,
                 "The value of a key in a map, or the default when the key is missing.",
                 ("inputMap", "key", "default")),
    FunctionSpec("keys", _keys, 1, 1, True, "The keys of a map, sorted.", ("inputMap",)),
    FunctionSpec("values", _values, 1, 1, True, "The values of a map, in the order of its sorted keys.",
                 ("mapping",)),
    FunctionSpec("contains", _contains, 2, 2, False, "Whether a list contains a value (types must match).",
                 ("list", "value")),
    FunctionSpec("coalesce", _coalesce, 1, None, False,
                 "The first argument that is neither null nor an empty string.", ("vals",)),
    FunctionSpec("flatten", _flatten, 1, 1, False, "Replaces nested lists with their elements, recursively.",
                 ("list",)),
    FunctionSpec("distinct", _distinct, 1, 1, False, "The list without repeated elements, first occurrences kept.",
                 ("list",)),
    FunctionSpec("sort", _sort, 1, 1, False, "The elements as strings, in lexicographic order.", ("list",)),
    FunctionSpec("element", _element, 2, 2, True, "The element at an index, wrapping around past the end.",
                 ("list", "index")),
    FunctionSpec("index", _index, 2, 2, False, "The index of the first element equal to a value.",
                 ("list", "value")),
    FunctionSpec("zipmap", _zipmap, 2, 2, True, "A map from a list of keys and a list of values.",
                 ("keys", "values")),
    FunctionSpec("range", _range, 1, 3, False,
                 "Numbers from start (default 0) up to but not including limit, by step (default 1 or -1).",
                 ("params",)),
]
