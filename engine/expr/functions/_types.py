"""Just enough of HCL's type system for the conversion functions.

Plain values carry no declared type, so a value's type is inferred from its
shape: a Python list is a tuple type (one type per element), a dict an object
type. ``tolist``, ``toset``, ``tomap``, ``distinct`` and ``coalesce`` need what
cty calls *unification*: finding one type every element converts to safely
(``[1, "a"]`` becomes a list of strings, ``[1, true]`` has no such type),
then converting every element to it.

Types are tuples: ``("string",)``, ``("number",)``, ``("bool",)``,
``("dynamic",)`` (null: converts to anything), ``("tuple", T1, T2, ...)``,
``("object", (k1, T1), ...)``, ``("list", T)`` and ``("map", T)``.
"""

from __future__ import annotations

import json
from typing import Any

from mlform.engine.expr.functions._numbers import (
    NumberParseError,
    is_number,
    number_to_string,
    parse_number,
)

Type = tuple[Any, ...]

STRING: Type = ("string",)
NUMBER: Type = ("number",)
BOOL: Type = ("bool",)
DYNAMIC: Type = ("dynamic",)
_PRIMITIVES = (STRING, NUMBER, BOOL)


class ConversionError(ValueError):
    """A value that cannot take the wanted type."""


def type_of(v: Any) -> Type:
    """The type a literal of this shape has."""
    if v is None:
        return DYNAMIC
    if isinstance(v, bool):
        return BOOL
    if is_number(v):
        return NUMBER
    if isinstance(v, str):
        return STRING
    if isinstance(v, (list, tuple)):
        return ("tuple",) + tuple(type_of(x) for x in v)
    if isinstance(v, dict):
        return ("object",) + tuple(sorted((k, type_of(x)) for k, x in v.items()))
    return DYNAMIC


def friendly(t: Type) -> str:
    """A type's name as Terraform writes it in messages."""
    kind = t[0]
    if kind in ("list", "map"):
        return f"{kind} of {friendly(t[1])}"
    return str(kind)


def _elements(t: Type) -> list[Type]:
    """Element types of a sequence type (``tuple`` or ``list``)."""
    if t[0] == "tuple":
        return list(t[1:])
    return [t[1]]


def _attributes(t: Type) -> list[Type]:
    """Attribute/element types of a mapping type (``object`` or ``map``)."""
    if t[0] == "object":
        return [at for _, at in t[1:]]
    return [t[1]]


def _contains_dynamic(t: Type) -> bool:
    if t == DYNAMIC:
        return True
    if t[0] in ("list", "map"):
        return _contains_dynamic(t[1])
    if t[0] == "tuple":
        return any(_contains_dynamic(e) for e in t[1:])
    if t[0] == "object":
        return any(_contains_dynamic(a) for _, a in t[1:])
    return False


def _uniform(parts: list[Type]) -> bool:
    """Whether one tuple's elements (or one object's attributes) share a type, nulls aside."""
    known = [p for p in parts if p != DYNAMIC]
    return all(p == known[0] for p in known)


def unify(types: list[Type], nulls: str = "fail") -> Type | None:
    """The one type all of ``types`` convert to, or ``None``.

    A null (``DYNAMIC``) beside primitive types takes their type. Beside a
    list or object type, or beside primitives with no common type, what
    happens depends on the caller, as it does in Terraform: ``"fail"`` finds
    no type (``tolist([null, [1]])`` is an error); ``"ignore"`` also accepts
    nulls beside one repeated type (``tomap({a = null, b = [1]})``);
    ``"dynamic"`` answers ``DYNAMIC`` there, meaning "leave the value as it
    is" (``coalesce(null, 1, true)`` is 1).
    """
    known = [t for t in types if t != DYNAMIC]
    if not known:
        return DYNAMIC
    has_null = len(known) < len(types)
    nested = "fail" if nulls == "ignore" else nulls
    kinds = {t[0] for t in known}
    if kinds & {"object", "map"} and kinds & {"tuple", "list"}:
        return None  # never unifiable, nulls or not
    first = known[0]
    if all(t == first for t in known) and (nulls == "ignore" or not has_null):
        return first
    if has_null and any(t not in _PRIMITIVES for t in known):
        return DYNAMIC if nulls == "dynamic" else None
    if all(t == first for t in known):
        return first
    if all(t in _PRIMITIVES for t in known):
        # Numbers and bools both become strings; no other pair converts safely.
        if STRING in known:
            return STRING
        return DYNAMIC if has_null and nulls == "dynamic" else None
    if kinds <= {"tuple", "list"}:
        tuples = [t for t in known if t[0] == "tuple"]
        if kinds == {"tuple"} and len({len(t) for t in tuples}) == 1:
            parts = [unify([t[i] for t in tuples], nested) for i in range(1, len(first))]
            if any(p is None for p in parts):
                return None
            return ("tuple",) + tuple(p for p in parts if p is not None)
        elem = unify([e for t in known for e in _elements(t)], nested)
        if elem is None or (_contains_dynamic(elem) and not all(_uniform(_elements(t)) for t in known)):
            return None
        return ("list", elem)
    if kinds <= {"object", "map"}:
        objects = [t for t in known if t[0] == "object"]
        if kinds == {"object"} and len({tuple(k for k, _ in t[1:]) for t in objects}) == 1:
            names = [k for k, _ in first[1:]]
            parts = [unify([dict(t[1:])[k] for t in objects], nested) for k in names]
            if any(p is None for p in parts):
                return None
            return ("object",) + tuple((k, p) for k, p in zip(names, parts))
        elem = unify([a for t in known for a in _attributes(t)], nested)
        if elem is None or (_contains_dynamic(elem) and not all(_uniform(_attributes(t)) for t in known)):
            return None
        return ("map", elem)
    return None


def convert_to_string(v: Any) -> str | None:
    """``v`` as a string the way Terraform converts it, or ``None`` if it can't be."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if is_number(v):
        return number_to_string(v)
    return None


def convert(v: Any, t: Type) -> Any:
    """``v`` converted to type ``t``; raises :class:`ConversionError`."""
    if v is None or t == DYNAMIC:
        return v
    kind = t[0]
    if t == STRING:
        s = convert_to_string(v)
        if s is not None:
            return s
        raise ConversionError(f"cannot convert {friendly(type_of(v))} to string")
    if t == NUMBER:
        if is_number(v):
            return v
        if isinstance(v, str):
            try:
                return parse_number(v)
            except NumberParseError:
                raise ConversionError(f'cannot convert "{v}" to number') from None
        raise ConversionError(f"cannot convert {friendly(type_of(v))} to number")
    if t == BOOL:
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        raise ConversionError(f"cannot convert {friendly(type_of(v))} to bool")
    if kind in ("tuple", "list"):
        if not isinstance(v, (list, tuple)):
            raise ConversionError(f"cannot convert {friendly(type_of(v))} to {friendly(t)}")
        if kind == "list":
            return [convert(x, t[1]) for x in v]
        if len(v) != len(t) - 1:
            raise ConversionError(f"a tuple of {len(t) - 1} elements is required")
        return [convert(x, et) for x, et in zip(v, t[1:])]
    if kind in ("object", "map"):
        if not isinstance(v, dict):
            raise ConversionError(f"cannot convert {friendly(type_of(v))} to {friendly(t)}")
        if kind == "map":
            return {k: convert(x, t[1]) for k, x in v.items()}
        attrs = dict(t[1:])
        return {k: convert(x, attrs.get(k, DYNAMIC)) for k, x in v.items()}
    raise ConversionError(f"cannot convert to {friendly(t)}")  # pragma: no cover


def strict_equal(a: Any, b: Any) -> bool:
    """HCL equality: types must match, so ``1 != "1"`` and ``1 != true``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if is_number(a) or is_number(b):
        return is_number(a) and is_number(b) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and bool(a == b)


def canonical_key(v: Any) -> str:
    """A string that is equal for strictly-equal values (for de-duplication)."""
    return json.dumps(_tagged(v), sort_keys=True, separators=(",", ":"))


def _tagged(v: Any) -> Any:
    if isinstance(v, bool):
        return ["b", v]
    if is_number(v):
        return ["n", number_to_string(v + 0)]  # + 0: -0.0 and 0 are one number (equal), one set element
    if isinstance(v, (list, tuple)):
        return ["l", [_tagged(x) for x in v]]
    if isinstance(v, dict):
        return ["m", {k: _tagged(x) for k, x in v.items()}]
    return v


def set_sort_key(v: Any) -> tuple[int, Any]:
    """The order a set's elements are listed in: nulls last, numbers by value."""
    if v is None:
        return (3, "")
    if isinstance(v, bool):
        return (0, int(v))
    if is_number(v):
        return (1, v)
    if isinstance(v, str):
        return (2, v)
    return (2, canonical_key(v))
