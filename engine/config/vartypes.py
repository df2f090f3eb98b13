"""Variable type constraints (``list(string)``, ``map(number)``, ``object({...})``) and
Terraform's conversion rules for values given to them.

A type is parsed once from the ``type = ...`` expression into a small tree of
tuples (:data:`TypeSpec`); :func:`conform` converts a value to it or raises
:class:`TypeMismatch` naming where in the value it does not fit, what was
expected and what was found.

Conversions, as Terraform's (cty) safe and unsafe conversions for input variables:
number and bool -> string; a string that reads as a number -> number;
``"true"``/``"false"`` -> bool; each element of a list/set/map/object converted
to the element type; extra object attributes dropped; a missing attribute is an
error unless it is ``optional(T)`` (then null). ``null`` fits any type.
"""

from __future__ import annotations

import math
from typing import Any, Union

from mlform.engine.diagnostics import SourceRange
from mlform.engine.load import ast as A

# ("any",) ("string",) ("number",) ("bool",) ("list", T) ("set", T) ("map", T)
# ("tuple", (T, ...)) ("object", ((name, T, optional), ...))
TypeSpec = tuple[Any, ...]
ANY: TypeSpec = ("any",)
PRIMITIVES = ("string", "number", "bool", "any")
COLLECTIONS = ("list", "set", "map")


class TypeSpecError(ValueError):
    """A ``type = ...`` expression that is not a type; ``rng`` points at the bad part."""

    def __init__(self, message: str, rng: SourceRange) -> None:
        super().__init__(message)
        self.rng = rng


class TypeMismatch(ValueError):
    """A value that does not fit a type: ``path`` (``[1]``, ``.name``), expected, actual."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        super().__init__(f"{path or 'the value'}: {expected} is required, but it is {actual}")
        self.path, self.expected, self.actual = path, expected, actual


def parse_type(expr: A.Expr) -> TypeSpec:
    """The type a ``type = ...`` expression names; raises :class:`TypeSpecError`."""
    if isinstance(expr, A.Variable):
        if expr.name in PRIMITIVES:
            return (expr.name,)
        if expr.name in COLLECTIONS:  # bare `list`: a list of anything (as Terraform 0.11 wrote it)
            return (expr.name, ANY)
        if expr.name in ("object", "tuple"):
            return (expr.name, None)
        raise TypeSpecError(f'"{expr.name}" is not a type', expr.rng)
    if isinstance(expr, A.Call):
        if expr.name in COLLECTIONS:
            if len(expr.args) != 1:
                raise TypeSpecError(f"{expr.name}(...) takes one element type, as in {expr.name}(string)", expr.rng)
            return (expr.name, parse_type(expr.args[0]))
        if expr.name == "tuple":
            if len(expr.args) != 1 or not isinstance(expr.args[0], A.TupleExpr):
                raise TypeSpecError("tuple(...) takes a list of element types, as in tuple([string, number])",
                                    expr.rng)
            return ("tuple", tuple(parse_type(x) for x in expr.args[0].items))
        if expr.name == "object":
            if len(expr.args) != 1 or not isinstance(expr.args[0], A.ObjectExpr):
                raise TypeSpecError("object(...) takes attribute types, as in object({ name = string })", expr.rng)
            attrs = []
            for k, v in expr.args[0].items:
                name = k.value if isinstance(k, A.Literal) else (k.name if isinstance(k, A.Variable) else None)
                if not isinstance(name, str):
                    raise TypeSpecError("an object attribute name must be a plain name", k.rng)
                optional = isinstance(v, A.Call) and v.name == "optional"
                if optional:
                    assert isinstance(v, A.Call)
                    if len(v.args) not in (1, 2):
                        raise TypeSpecError("optional(...) takes a type (and a default)", v.rng)
                    attrs.append((name, parse_type(v.args[0]), True))
                else:
                    attrs.append((name, parse_type(v), False))
            return ("object", tuple(attrs))
        raise TypeSpecError(f'"{expr.name}(...)" is not a type constructor', expr.rng)
    raise TypeSpecError("a type is a name (string, number, bool, any) or a constructor such as list(string)",
                        expr.rng)


def type_str(t: TypeSpec) -> str:
    """The type as a user writes it: ``map(list(number))``."""
    kind = t[0]
    if kind in PRIMITIVES:
        return str(kind)
    if kind in COLLECTIONS:
        return f"{kind}({type_str(t[1])})"
    if t[1] is None:
        return str(kind)
    if kind == "tuple":
        return "tuple([" + ", ".join(type_str(x) for x in t[1]) + "])"
    return "object({" + ", ".join(f"{n} = " + (f"optional({type_str(x)})" if opt else type_str(x))
                                   for n, x, opt in t[1]) + "})"


def is_complex(t: TypeSpec) -> bool:
    """A type whose values are written as HCL expressions on the command line."""
    return t[0] not in PRIMITIVES


def describe(v: Any) -> str:
    """A value's type and (short) value, for a mismatch message."""
    if isinstance(v, bool):
        return f"bool {'true' if v else 'false'}"
    if isinstance(v, (int, float)):
        return f"number {_num_str(v)}"
    if isinstance(v, str):
        s = v if len(v) <= 40 else v[:37] + "..."
        return f'string "{s}"'
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _num_str(v: Union[int, float]) -> str:
    if isinstance(v, float) and v.is_integer() and math.isfinite(v):
        return str(int(v))
    return str(v)


def _to_number(s: str) -> int | float | None:
    t = s.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        f = float(t)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def conform(t: TypeSpec, v: Any, path: str = "") -> Any:
    """``v`` converted to ``t``; raises :class:`TypeMismatch` where it does not fit."""
    kind = t[0]
    if v is None or kind == "any":
        return v
    if kind == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return _num_str(v)
        raise TypeMismatch(path, "a string", describe(v))
    if kind == "number":
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return v
        if isinstance(v, str) and (n := _to_number(v)) is not None:
            return n
        raise TypeMismatch(path, "a number", describe(v))
    if kind == "bool":
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        raise TypeMismatch(path, "a bool (true or false)", describe(v))
    if kind in ("list", "set"):
        if not isinstance(v, list):
            raise TypeMismatch(path, f"a {kind}", describe(v))
        out = [conform(t[1], x, f"{path}[{i}]") for i, x in enumerate(v)]
        if kind == "set":
            uniq: list[Any] = []
            for x in out:
                if x not in uniq:
                    uniq.append(x)
            out = uniq
        return out
    if kind == "map":
        if not isinstance(v, dict):
            raise TypeMismatch(path, "a map", describe(v))
        return {k: conform(t[1], x, f'{path}["{k}"]') for k, x in v.items()}
    if kind == "tuple":
        if not isinstance(v, list):
            raise TypeMismatch(path, "a tuple", describe(v))
        if t[1] is None:
            return v
        if len(v) != len(t[1]):
            raise TypeMismatch(path, f"a tuple of {len(t[1])} elements", f"a list of {len(v)}")
        return [conform(et, x, f"{path}[{i}]") for i, (et, x) in enumerate(zip(t[1], v))]
    # object
    if not isinstance(v, dict):
        raise TypeMismatch(path, "an object", describe(v))
    if t[1] is None:
        return v
    out_obj: dict[str, Any] = {}
    for name, at, optional in t[1]:
        if name not in v:
            if optional:
                out_obj[name] = None
                continue
            raise TypeMismatch(f"{path}.{name}" if path else name, f'attribute "{name}"', "missing")
        out_obj[name] = conform(at, v[name], f"{path}.{name}")
    return out_obj  # attributes the type does not name are dropped, as in Terraform


__all__ = ["ANY", "TypeMismatch", "TypeSpec", "TypeSpecError", "conform", "describe", "is_complex", "parse_type",
           "type_str"]
