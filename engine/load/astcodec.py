"""A compact, fast encoding of :class:`mlform.engine.load.ast.File` for the parse cache.

Unpickling the AST's slotted dataclasses goes through ``dataclasses``'
generic ``__setstate__`` (a ``fields()`` lookup per node): ~0.4 s for a
file of 1,000 blocks. Here every node is a tuple ``(tag, field, ...)`` and
every source range four ints; the whole file is one :mod:`marshal` blob
(C speed both ways), and decoding calls each class's constructor directly,
sharing equal ranges. The format has its own version (``FORMAT``); the
parse cache key includes it.
"""

from __future__ import annotations

import marshal
from typing import Any

from mlform.engine.diagnostics import Pos, SourceRange
from mlform.engine.load import ast as A
from mlform.engine.load.fastpos import make_pos, make_range

FORMAT = 1

# tag of each expression class, in a fixed order (never reorder: bump FORMAT)
_CLASSES: tuple[type, ...] = (A.Literal, A.Template, A.TemplateIf, A.TemplateFor, A.Variable, A.GetAttr,
                              A.Index, A.Splat, A.SplatItem, A.Call, A.Binary, A.Unary, A.Conditional,
                              A.TupleExpr, A.ObjectExpr, A.ForExpr)
_TAG = {c: i for i, c in enumerate(_CLASSES)}


class _Unsupported(Exception):
    """A value the encoding does not carry (the caller then does not cache)."""


# --- encoding --------------------------------------------------------------------

class _Enc:
    __slots__ = ("filename",)

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def r(self, rng: SourceRange) -> tuple[Any, ...]:
        s, e = rng.start, rng.end
        if rng.filename == self.filename:
            return (s.line, s.col, e.line, e.col)
        return (s.line, s.col, e.line, e.col, rng.filename)

    def el(self, xs: list[A.Expr]) -> list[Any]:
        return [self.e(x) for x in xs]

    def oe(self, x: A.Expr | None) -> Any:
        return None if x is None else self.e(x)

    def e(self, x: A.Expr) -> tuple[Any, ...]:
        t = _TAG.get(type(x))
        r = self.r
        if t is None:
            raise _Unsupported(type(x).__name__)
        if t == 0:
            v = x.value  # type: ignore[attr-defined]
            if v is not None and type(v) not in (str, int, float, bool):
                raise _Unsupported(type(v).__name__)
            return (0, v, r(x.rng))
        if t == 1:
            return (1, self.el(x.parts), r(x.rng))  # type: ignore[attr-defined]
        if t == 2:
            return (2, self.e(x.cond), self.el(x.then), self.el(x.else_), r(x.rng))  # type: ignore[attr-defined]
        if t == 3:
            return (3, x.key_var, x.value_var, self.e(x.coll), self.el(x.body), r(x.rng))  # type: ignore[attr-defined]
        if t == 4:
            return (4, x.name, r(x.rng))  # type: ignore[attr-defined]
        if t == 5:
            return (5, self.e(x.obj), x.name, r(x.rng))  # type: ignore[attr-defined]
        if t == 6:
            return (6, self.e(x.obj), self.e(x.key), r(x.rng))  # type: ignore[attr-defined]
        if t == 7:
            return (7, self.e(x.source), self.e(x.each), r(x.rng))  # type: ignore[attr-defined]
        if t == 8:
            return (8, r(x.rng))
        if t == 9:
            return (9, x.name, self.el(x.args), x.expand_final, r(x.rng))  # type: ignore[attr-defined]
        if t == 10:
            return (10, x.op, self.e(x.left), self.e(x.right), r(x.rng))  # type: ignore[attr-defined]
        if t == 11:
            return (11, x.op, self.e(x.operand), r(x.rng))  # type: ignore[attr-defined]
        if t == 12:
            return (12, self.e(x.cond), self.e(x.then), self.e(x.else_), r(x.rng))  # type: ignore[attr-defined]
        if t == 13:
            return (13, self.el(x.items), r(x.rng))  # type: ignore[attr-defined]
        if t == 14:
            return (14, [(self.e(k), self.e(v)) for k, v in x.items], r(x.rng))  # type: ignore[attr-defined]
        return (15, x.key_var, x.value_var, self.e(x.coll), self.oe(x.key_expr),  # type: ignore[attr-defined]
                self.e(x.value_expr), self.oe(x.cond), x.grouping, r(x.rng))  # type: ignore[attr-defined]

    def body(self, b: A.Body) -> tuple[Any, ...]:
        attrs = [(a.name, self.e(a.expr), self.r(a.rng), self.r(a.name_rng)) for a in b.attributes.values()]
        blocks = [(bl.type, list(bl.labels), self.body(bl.body), self.r(bl.rng), [self.r(x) for x in bl.label_rngs])
                  for bl in b.blocks]
        return (attrs, blocks, self.r(b.rng))


def dump(f: A.File) -> tuple[Any, ...]:
    """The whole file as nested tuples: every node, field and source range (what ``encode`` stores)."""
    return (f.filename, f.digest, _Enc(f.filename).body(f.body))


def encode(f: A.File) -> bytes | None:
    """The file as bytes, or None when it holds a value this format does not carry."""
    try:
        return marshal.dumps((FORMAT, f.filename, f.digest, _Enc(f.filename).body(f.body)))
    except (_Unsupported, ValueError):
        return None


# --- decoding --------------------------------------------------------------------

def decode(data: bytes) -> A.File:
    """The file encoded by :func:`encode`. Raises ValueError on anything else."""
    try:
        fmt, filename, digest, body = marshal.loads(data)
    except (EOFError, TypeError, ValueError) as exc:
        raise ValueError(f"not an encoded AST: {exc}") from None
    if fmt != FORMAT:
        raise ValueError(f"AST encoding {fmt}, expected {FORMAT}")
    try:
        return A.File(filename, _decoder(filename)(body), digest)
    except (IndexError, KeyError, TypeError) as exc:
        raise ValueError(f"corrupt encoded AST: {exc}") from None


def _decoder(filename: str) -> Any:
    """A body decoder whose helpers close over the file's name and a range memo."""
    ranges: dict[tuple[Any, ...], SourceRange] = {}
    points: dict[tuple[int, int], Pos] = {}

    def pos(line: int, col: int) -> Pos:
        k = (line, col)
        p = points.get(k)
        if p is None:
            p = points[k] = make_pos(line, col)
        return p

    def r(t: tuple[Any, ...]) -> SourceRange:
        rng = ranges.get(t)
        if rng is None:
            fn = t[4] if len(t) > 4 else filename
            rng = ranges[t] = make_range(fn, pos(t[0], t[1]), pos(t[2], t[3]))
        return rng

    Literal, Template, TemplateIf, TemplateFor = A.Literal, A.Template, A.TemplateIf, A.TemplateFor
    Variable, GetAttr, Index, Splat, SplatItem = A.Variable, A.GetAttr, A.Index, A.Splat, A.SplatItem
    Call, Binary, Unary, Conditional = A.Call, A.Binary, A.Unary, A.Conditional
    TupleExpr, ObjectExpr, ForExpr = A.TupleExpr, A.ObjectExpr, A.ForExpr

    def e(x: tuple[Any, ...]) -> A.Expr:
        t = x[0]
        if t == 0:
            return Literal(x[1], r(x[2]))
        if t == 4:
            return Variable(x[1], r(x[2]))
        if t == 5:
            return GetAttr(e(x[1]), x[2], r(x[3]))
        if t == 1:
            return Template([e(p) for p in x[1]], r(x[2]))
        if t == 13:
            return TupleExpr([e(p) for p in x[1]], r(x[2]))
        if t == 14:
            return ObjectExpr([(e(k), e(v)) for k, v in x[1]], r(x[2]))
        if t == 9:
            return Call(x[1], [e(p) for p in x[2]], x[3], r(x[4]))
        if t == 6:
            return Index(e(x[1]), e(x[2]), r(x[3]))
        if t == 10:
            return Binary(x[1], e(x[2]), e(x[3]), r(x[4]))
        if t == 11:
            return Unary(x[1], e(x[2]), r(x[3]))
        if t == 12:
            return Conditional(e(x[1]), e(x[2]), e(x[3]), r(x[4]))
        if t == 2:
            return TemplateIf(e(x[1]), [e(p) for p in x[2]], [e(p) for p in x[3]], r(x[4]))
        if t == 3:
            return TemplateFor(x[1], x[2], e(x[3]), [e(p) for p in x[4]], r(x[5]))
        if t == 7:
            return Splat(e(x[1]), e(x[2]), r(x[3]))
        if t == 8:
            return SplatItem(r(x[1]))
        if t == 15:
            return ForExpr(x[1], x[2], e(x[3]), None if x[4] is None else e(x[4]), e(x[5]),
                           None if x[6] is None else e(x[6]), x[7], r(x[8]))
        raise KeyError(t)

    Attribute, Block, Body = A.Attribute, A.Block, A.Body

    def body(b: tuple[Any, ...]) -> A.Body:
        attrs, blocks, rng = b
        return Body({a[0]: Attribute(a[0], e(a[1]), r(a[2]), r(a[3])) for a in attrs},
                    [Block(bl[0], bl[1], body(bl[2]), r(bl[3]), [r(x) for x in bl[4]]) for bl in blocks],
                    r(rng))

    return body
