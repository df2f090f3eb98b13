"""Checking a block's body against its schema: unknown, missing and computed
attributes and nested blocks (with "did you mean"), and literal value types.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.diagnostics import Diagnostics, SourceRange, did_you_mean
from mlform.engine.load import ast as A


def check_body(body: A.Body, spec: S.BlockSpec, d: Diagnostics, where: str, extra_ok: tuple[str, ...] = (),
               header: SourceRange | None = None, allow_unknown: bool = False) -> None:
    """Unknown/missing/computed attributes and nested blocks of ``body``.

    ``header`` is the block's type-and-labels range: what is missing is
    reported there, as Terraform does. ``allow_unknown``: names ``spec`` lacks
    are let through (the block's provider, which would know them, is missing).
    """
    if not spec.any_attrs:
        for name, a in body.attributes.items():
            if name in extra_ok:
                continue
            if name not in spec.attrs:
                if allow_unknown:
                    continue
                if name in spec.blocks:
                    d.error("Unsupported argument", f'"{name}" is a block here, not an argument. '
                            f"Write it as `{name} {{ ... }}`.", a.name_rng)
                    continue
                d.error("Unsupported argument", f'An argument named "{name}" is not expected in {where}.'
                        + did_you_mean(name, list(spec.attrs) + list(extra_ok)), a.name_rng)
            elif spec.attrs[name].computed:
                d.error("Value for computed attribute", f'"{name}" is set by the provider after apply '
                        "and cannot be written in the configuration. Remove it.", a.name_rng)
            else:
                check_literal_type(a, spec.attrs[name].type, d)
                if spec.attrs[name].enum and isinstance(a.expr, (A.Literal, A.TupleExpr)):
                    lit = a.expr.value if isinstance(a.expr, A.Literal) else \
                        [x.value if isinstance(x, A.Literal) else None for x in a.expr.items]
                    check_enum(lit, spec.attrs[name], name, a.expr.rng, d)
        for name, s in spec.attrs.items():
            if s.required and name not in body.attributes:
                d.error("Missing required argument", f'The argument "{name}" is required in {where}, '
                        "but no definition was found. Add it.", header or body.rng)
    counts: dict[str, int] = {}
    for nb in body.blocks:
        if nb.type in extra_ok:
            continue
        ns = spec.blocks.get(nb.type)
        if ns is None and allow_unknown:
            continue
        if ns is None:
            hint = did_you_mean(nb.type, list(spec.blocks) + list(extra_ok))
            if nb.type in spec.attrs:
                hint = f' "{nb.type}" is an argument: write `{nb.type} = ...`.'
            d.error("Unsupported block type", f'Blocks of type "{nb.type}" are not expected in {where}.' + hint,
                    nb.rng)
            continue
        if len(nb.labels) != ns.labels:
            d.error(f'Wrong number of labels for "{nb.type}" block',
                    f'A "{nb.type}" block takes {ns.labels} label(s), not {len(nb.labels)}.', nb.rng)
            continue
        counts[nb.type] = counts.get(nb.type, 0) + 1
        if ns.max_items is not None and counts[nb.type] > ns.max_items:
            d.error(f'Too many "{nb.type}" blocks', f'Only {ns.max_items} "{nb.type}" block is allowed in {where}.',
                    nb.rng)
        check_body(nb.body, ns.block, d, f'a "{nb.type}" block', header=nb.rng)
    for name, ns in spec.blocks.items():
        if ns.required and name not in counts:
            d.error("Missing required block", f'A "{name}" block is required in {where}.', header or body.rng)


def check_literal_type(a: A.Attribute, typ: str, d: Diagnostics) -> None:
    """Static type check when the value is written as a literal."""
    e = a.expr
    if not isinstance(e, (A.Literal, A.TupleExpr, A.ObjectExpr)) or typ in ("any",) or typ.startswith("ref("):
        if typ.startswith("ref(") or typ.startswith("list(ref("):
            check_ref(a, typ, d)
        return
    base = typ.split("(")[0]
    v = e.value if isinstance(e, A.Literal) else None
    ok = True
    if base == "string":
        ok = isinstance(e, A.Literal) and (v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                           or isinstance(v, bool))
        ok = ok and not isinstance(e, (A.TupleExpr, A.ObjectExpr))
    elif base == "number":
        ok = isinstance(e, A.Literal) and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                           or (isinstance(v, str) and numeric(v)))
    elif base == "bool":
        ok = isinstance(e, A.Literal) and (v is None or isinstance(v, bool) or v in ("true", "false"))
    elif base == "list":
        ok = isinstance(e, A.TupleExpr) or (isinstance(e, A.Literal) and v is None)
        if ok and isinstance(e, A.TupleExpr) and typ.startswith("list(ref("):
            check_ref(a, typ, d)
            return
    elif base == "map":
        ok = isinstance(e, A.ObjectExpr) or (isinstance(e, A.Literal) and v is None)
    if not ok:
        got = {A.TupleExpr: "a list", A.ObjectExpr: "an object"}.get(type(e), lit_type(v))
        d.error("Incorrect attribute value type",
                f'Inappropriate value for attribute "{a.name}": {typ} required, got {got}.', e.rng)


def check_enum(v: Any, spec: S.AttrSpec, name: str, rng: SourceRange, d: Diagnostics) -> None:
    """A string (or each string of a list) outside ``spec.enum``: the allowed values and a "did you mean"."""
    if not spec.enum:
        return
    for item in (v if isinstance(v, list) else [v]):
        if isinstance(item, str) and item not in spec.enum:
            d.error(f'Invalid value for "{name}"', f'"{item}" is not a {name} mlform knows. Use one of: '
                    + ", ".join(f'"{x}"' for x in spec.enum) + "." + did_you_mean(item, spec.enum), rng)


def numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def lit_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return f'the string "{v}"'
    return "null"


def check_ref(a: A.Attribute, typ: str, d: Diagnostics) -> None:
    kinds = typ[typ.rindex("(") + 1:typ.index(")")].split("|")
    items = a.expr.items if isinstance(a.expr, A.TupleExpr) and typ.startswith("list(") else [a.expr]
    for it in items:
        t = A.traversal_of(it)
        if t is None or len(t[0]) < 2 or t[0][0] not in kinds:
            want = " or ".join(f"{k}.NAME" for k in kinds)
            d.error("Invalid reference", f'"{a.name}" must be a direct reference to {want}.', it.rng)
