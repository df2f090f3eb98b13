"""Evaluate expressions against a scope of names.

Unknown values (:data:`~mlform.engine.values.UNKNOWN`) propagate: any
operation with an unknown operand is unknown, so a plan can show
``(known after apply)`` wherever a computed attribute flows.

What already failed holds :data:`~.errored.ERRORED`; reading it raises a
diagnostic-free :class:`~.errored.UpstreamError` (see :mod:`.errored`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import DiagnosticsError, SourceRange, did_you_mean, error
from mlform.engine.expr.errored import ERRORED, EvalError, UpstreamError, contains_errored
from mlform.engine.expr.errored import checked as _checked
from mlform.engine.load import ast as A
from mlform.engine.values import UNKNOWN, InstanceMap, contains_unknown, type_name

__all__ = ["ERRORED", "EvalError", "Evaluator", "Scope", "UpstreamError", "contains_errored", "get_attr", "index",
           "norm_number", "to_bool", "to_number", "to_string"]


def _fail(summary: str, detail: str, rng: SourceRange) -> EvalError:
    return EvalError(error(summary, detail, rng))


def _namespaced(e: A.Call) -> A.Call:
    """``core::NAME(...)`` is the built-in ``NAME``; ``provider::P::NAME(...)`` is a provider's
    function, which mlform has none of (Terraform >= 1.8 syntax)."""
    ns, _, rest = e.name.partition("::")
    if ns == "core" and "::" not in rest:
        return A.Call(rest, e.args, e.expand_final, e.rng)
    if ns == "provider":
        prov, _, fn = rest.partition("::")
        raise _fail("Provider functions are not supported",
                    f'"{e.name}" calls the function "{fn}" of provider "{prov}": mlform\'s providers define no '
                    "functions. Use a built-in function (core::NAME or just NAME) instead.", e.rng)
    raise _fail("Call to unknown function", f'There is no function named "{e.name}": a namespaced function is '
                "core::NAME (a built-in) or provider::PROVIDER::NAME.", e.rng)


@dataclass
class Scope:
    """Names an expression can see.

    ``names`` maps a root name (``var``, ``local``, ``model``, ``each``...) to
    its value. ``base_dir`` anchors ``file()`` paths.
    """

    names: dict[str, Any]
    base_dir: Path = field(default_factory=Path.cwd)

    def child(self, extra: dict[str, Any]) -> "Scope":
        return Scope({**self.names, **extra}, self.base_dir)


def norm_number(v: float | int) -> float | int:
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**63:
        return int(v)
    return v


def to_string(v: Any, rng: SourceRange) -> str:
    """HCL's conversion of a primitive to string (for templates)."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        n = norm_number(v)
        return repr(n) if isinstance(n, float) else str(n)
    if v is None:
        raise _fail("Invalid template interpolation value",
                    "The expression is null; a template needs a string. Use coalesce() to give a default.", rng)
    raise _fail("Invalid template interpolation value",
                f"Cannot include a {type_name(v)} in a string template; use jsonencode() or join().", rng)


def to_number(v: Any, rng: SourceRange) -> float | int:
    if isinstance(v, bool):
        raise _fail("Invalid operand", "A bool is not a number.", rng)
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, str):
        try:
            return norm_number(float(v)) if any(c in v for c in ".eE") else int(v)
        except ValueError:
            pass
    raise _fail("Invalid operand", f"Expected a number, got {type_name(v)} {_short(v)}.", rng)


def to_bool(v: Any, rng: SourceRange) -> bool:
    if isinstance(v, bool):
        return v
    if v in ("true", "false"):
        return bool(v == "true")
    raise _fail("Invalid operand", f"Expected a bool, got {type_name(v)} {_short(v)}.", rng)


def _short(v: Any) -> str:
    s = repr(v)
    return s if len(s) < 40 else s[:37] + "..."


class Evaluator:
    """Evaluates :mod:`ast` nodes. Stateless apart from the scope passed in."""

    def __init__(self, call: Callable[[str, list[Any], Path, A.Call, "Evaluator", Scope], Any] | None = None) -> None:
        self._call = call

    def eval(self, e: A.Expr, scope: Scope) -> Any:
        m = getattr(self, "_e_" + type(e).__name__)
        return m(e, scope)

    # --- leaves --------------------------------------------------------------
    def _e_Literal(self, e: A.Literal, s: Scope) -> Any:
        return e.value

    def _e_Variable(self, e: A.Variable, s: Scope) -> Any:
        if e.name in s.names:
            return _checked(s.names[e.name])
        raise _fail("Unknown variable", f'There is no name "{e.name}" here.'
                    + did_you_mean(e.name, s.names), e.rng)

    def _e_SplatItem(self, e: A.SplatItem, s: Scope) -> Any:
        return _checked(s.names["\x00splat"])

    # --- templates -----------------------------------------------------------
    def _e_Template(self, e: A.Template, s: Scope) -> Any:
        out: list[str] = []
        unknown = False
        for p in e.parts:
            v = self.eval(p, s)
            if v is UNKNOWN:
                unknown = True
                continue
            out.append(to_string(v, p.rng))
        return UNKNOWN if unknown else "".join(out)

    def _parts(self, parts: list[A.Expr], s: Scope) -> Any:
        return self._e_Template(A.Template(parts, parts[0].rng), s) if parts else ""

    def _e_TemplateIf(self, e: A.TemplateIf, s: Scope) -> Any:
        c = self.eval(e.cond, s)
        if c is UNKNOWN:
            return UNKNOWN
        return self._parts(e.then if to_bool(c, e.cond.rng) else e.else_, s)

    def _e_TemplateFor(self, e: A.TemplateFor, s: Scope) -> Any:
        coll = self.eval(e.coll, s)
        if coll is UNKNOWN:
            return UNKNOWN
        out: list[str] = []
        for k, v in _iter(coll, e.coll.rng):
            names = {e.value_var: v}
            if e.key_var:
                names[e.key_var] = k
            r = self._parts(e.body, s.child(names))
            if r is UNKNOWN:
                return UNKNOWN
            out.append(r)
        return "".join(out)

    # --- traversal -----------------------------------------------------------
    def _e_GetAttr(self, e: A.GetAttr, s: Scope) -> Any:
        obj = self.eval(e.obj, s)
        return get_attr(obj, e.name, e.rng)

    def _e_Index(self, e: A.Index, s: Scope) -> Any:
        obj = self.eval(e.obj, s)
        key = self.eval(e.key, s)
        return index(obj, key, e.rng)

    def _e_Splat(self, e: A.Splat, s: Scope) -> Any:
        src = _checked(self.eval(e.source, s))
        if src is UNKNOWN:
            return UNKNOWN
        if src is None:
            return []
        # A map of instances (for_each) splats over its values, a friendlier
        # reading than Terraform's "treat the map as one value".
        items = [src[k] for k in sorted(src)] if isinstance(src, InstanceMap) else (
            src if isinstance(src, list) else [src])
        return [self.eval(e.each, s.child({"\x00splat": it})) for it in items]

    # --- operators -----------------------------------------------------------
    def _e_Unary(self, e: A.Unary, s: Scope) -> Any:
        v = self.eval(e.operand, s)
        if v is UNKNOWN:
            return UNKNOWN
        if e.op == "!":
            return not to_bool(v, e.operand.rng)
        return norm_number(-to_number(v, e.operand.rng))

    def _e_Binary(self, e: A.Binary, s: Scope) -> Any:
        op = e.op
        left = self.eval(e.left, s)
        if op in ("&&", "||") and left is not UNKNOWN:
            lb = to_bool(left, e.left.rng)
            if op == "&&" and not lb:
                return False
            if op == "||" and lb:
                return True
            right = self.eval(e.right, s)
            return UNKNOWN if right is UNKNOWN else to_bool(right, e.right.rng)
        right = self.eval(e.right, s)
        if op in ("==", "!="):
            if contains_unknown(left) or contains_unknown(right):
                return UNKNOWN
            eq = _equal(left, right)
            return eq if op == "==" else not eq
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if op in ("&&", "||"):
            return UNKNOWN
        a, b = to_number(left, e.left.rng), to_number(right, e.right.rng)
        if op == "+":
            return norm_number(a + b)
        if op == "-":
            return norm_number(a - b)
        if op == "*":
            return norm_number(a * b)
        if op == "/":
            if b == 0:
                raise _fail("Division by zero", "The right-hand operand is zero.", e.right.rng)
            return norm_number(a / b)
        if op == "%":
            if b == 0:
                raise _fail("Division by zero", "The right-hand operand of % is zero.", e.right.rng)
            try:
                return norm_number(math.fmod(a, b))
            except ValueError:  # an infinite left operand
                raise _fail("Invalid operand", f"{a} % {b} has no value: the left-hand operand of % is infinite.",
                            e.left.rng) from None
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]

    def _e_Conditional(self, e: A.Conditional, s: Scope) -> Any:
        c = self.eval(e.cond, s)
        if c is UNKNOWN:
            return UNKNOWN
        return self.eval(e.then if to_bool(c, e.cond.rng) else e.else_, s)

    # --- collections ---------------------------------------------------------
    def _e_TupleExpr(self, e: A.TupleExpr, s: Scope) -> Any:
        return [self.eval(i, s) for i in e.items]

    def _e_ObjectExpr(self, e: A.ObjectExpr, s: Scope) -> Any:
        out: dict[str, Any] = {}
        for k, v in e.items:
            key = self.eval(k, s)
            if key is UNKNOWN:
                return UNKNOWN
            out[to_string(key, k.rng)] = self.eval(v, s)
        return out

    def _e_ForExpr(self, e: A.ForExpr, s: Scope) -> Any:
        coll = self.eval(e.coll, s)
        if coll is UNKNOWN:
            return UNKNOWN
        lst: list[Any] = []
        obj: dict[str, Any] = {}
        for k, v in _iter(coll, e.coll.rng):
            names = {e.value_var: v}
            if e.key_var:
                names[e.key_var] = k
            inner = s.child(names)
            if e.cond is not None:
                c = self.eval(e.cond, inner)
                if c is UNKNOWN:
                    return UNKNOWN
                if not to_bool(c, e.cond.rng):
                    continue
            val = self.eval(e.value_expr, inner)
            if e.key_expr is None:
                lst.append(val)
                continue
            key = self.eval(e.key_expr, inner)
            if key is UNKNOWN:
                return UNKNOWN
            ks = to_string(key, e.key_expr.rng)
            if e.grouping:
                obj.setdefault(ks, []).append(val)
            elif ks in obj:
                raise _fail("Duplicate object key", f'Two elements produce the key "{ks}". '
                            "Use the grouping form (`...` after the value) to collect them.", e.key_expr.rng)
            else:
                obj[ks] = val
        return lst if e.key_expr is None else obj

    # --- calls ---------------------------------------------------------------
    def _e_Call(self, e: A.Call, s: Scope) -> Any:
        if "::" in e.name:
            e = _namespaced(e)
        if e.name == "try":
            for arg in e.args:
                try:
                    v = self.eval(arg, s)
                except UpstreamError:
                    raise  # the failure was reported where it happened; no fallback hides it
                except DiagnosticsError:
                    continue
                return v
            raise _fail("No try() argument succeeded", "Every argument of try() failed; add a fallback value.", e.rng)
        if e.name == "can":
            if len(e.args) != 1:
                raise _fail("Invalid function call", "can() takes exactly one argument.", e.rng)
            try:
                v = self.eval(e.args[0], s)
            except UpstreamError:
                raise
            except DiagnosticsError:
                return False
            return UNKNOWN if v is UNKNOWN else True
        args = [self.eval(a, s) for a in e.args]
        if any(contains_errored(a) for a in args):
            raise UpstreamError()  # length(model.m) where one instance failed: reported already
        if e.expand_final and args:
            last = args.pop()
            if last is UNKNOWN:
                return UNKNOWN
            if not isinstance(last, list):
                raise _fail("Invalid expanding argument", "The argument before `...` must be a list.", e.args[-1].rng)
            args += last
        if self._call is None:
            raise _fail("Functions are not available here", f"{e.name}() cannot be called in this context.", e.rng)
        return self._call(e.name, args, s.base_dir, e, self, s)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    return bool(a == b)


def _iter(coll: Any, rng: SourceRange) -> list[tuple[Any, Any]]:
    if isinstance(coll, list):
        return list(enumerate(coll))
    if isinstance(coll, dict):
        return [(k, coll[k]) for k in sorted(coll)]
    raise _fail("Iteration over non-iterable value",
                f"A for expression needs a list or map, got {type_name(coll)}.", rng)


def get_attr(obj: Any, name: str, rng: SourceRange) -> Any:
    if obj is UNKNOWN:
        return UNKNOWN
    _checked(obj)
    if isinstance(obj, dict):
        if name in obj:
            return _checked(obj[name])
        raise _fail("Unsupported attribute", f'This object has no attribute "{name}".'
                    + did_you_mean(name, list(obj)), rng)
    if obj is None:
        raise _fail("Attempt to get attribute from null value", "This value is null, so it has no attributes.", rng)
    if isinstance(obj, list):
        raise _fail("Unsupported attribute", f'A list has no attribute "{name}". '
                    f"Use an index (x[0].{name}) or a splat (x[*].{name}).", rng)
    raise _fail("Unsupported attribute", f"A {type_name(obj)} has no attributes.", rng)


def index(obj: Any, key: Any, rng: SourceRange) -> Any:
    if obj is UNKNOWN or key is UNKNOWN:
        return UNKNOWN
    _checked(obj)
    if isinstance(obj, list):
        try:
            n = to_number(key, rng)
            i = int(n)
        except DiagnosticsError:
            raise _fail("Invalid index", "A list index must be a number.", rng) from None
        except (OverflowError, ValueError):  # infinity, NaN
            raise _fail("Invalid index", f"Index {n} is not a whole number a list can have.", rng) from None
        if not 0 <= i < len(obj):
            raise _fail("Invalid index", f"Index {i} is out of range for a list of {len(obj)} elements.", rng)
        return _checked(obj[i])
    if isinstance(obj, dict):
        k = to_string(key, rng) if not isinstance(key, str) else key
        if k in obj:
            return _checked(obj[k])
        raise _fail("Invalid index", f'The given key "{k}" does not exist.'
                    + did_you_mean(k, list(obj)), rng)
    if obj is None:
        raise _fail("Attempt to index null value", "This value is null.", rng)
    raise _fail("Invalid index", f"A {type_name(obj)} cannot be indexed.", rng)
