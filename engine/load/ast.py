"""The syntax tree mlform works on: bodies, blocks, attributes, expressions.

Every node keeps its :class:`SourceRange` so that any later phase (resolve,
plan, a provider's attribute path) can point a diagnostic at the user's file.
These are the *raw* forms; decoded, typed configuration lives in
``mlform.engine.config``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from mlform.engine.diagnostics import SourceRange


class Expr:
    """Base of expression nodes."""

    __slots__ = ("rng",)
    rng: SourceRange

    def children(self) -> Iterator["Expr"]:
        return iter(())

    def walk(self) -> Iterator["Expr"]:
        yield self
        for c in self.children():
            yield from c.walk()


@dataclass(slots=True, eq=False)
class Literal(Expr):
    value: Any
    rng: SourceRange


@dataclass(slots=True, eq=False)
class Template(Expr):
    """A string template: literal text and interpolations, concatenated."""

    parts: list[Expr]
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        return iter(self.parts)


@dataclass(slots=True, eq=False)
class TemplateIf(Expr):
    cond: Expr
    then: list[Expr]
    else_: list[Expr]
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.cond
        yield from self.then
        yield from self.else_


@dataclass(slots=True, eq=False)
class TemplateFor(Expr):
    key_var: str | None
    value_var: str
    coll: Expr
    body: list[Expr]
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.coll
        yield from self.body


@dataclass(slots=True, eq=False)
class Variable(Expr):
    """A bare name: the root of a reference (``var``, ``model``, ``each``)."""

    name: str
    rng: SourceRange


@dataclass(slots=True, eq=False)
class GetAttr(Expr):
    obj: Expr
    name: str
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.obj


@dataclass(slots=True, eq=False)
class Index(Expr):
    obj: Expr
    key: Expr
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.obj
        yield self.key


@dataclass(slots=True, eq=False)
class Splat(Expr):
    """``src[*].a.b`` / ``src.*.a``: ``each`` is applied to every element.

    ``each`` is an expression over :class:`SplatItem`.
    """

    source: Expr
    each: Expr
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.source
        yield self.each


@dataclass(slots=True, eq=False)
class SplatItem(Expr):
    rng: SourceRange


@dataclass(slots=True, eq=False)
class Call(Expr):
    name: str
    args: list[Expr]
    expand_final: bool
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        return iter(self.args)


@dataclass(slots=True, eq=False)
class Binary(Expr):
    op: str
    left: Expr
    right: Expr
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.left
        yield self.right


@dataclass(slots=True, eq=False)
class Unary(Expr):
    op: str
    operand: Expr
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.operand


@dataclass(slots=True, eq=False)
class Conditional(Expr):
    cond: Expr
    then: Expr
    else_: Expr
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.cond
        yield self.then
        yield self.else_


@dataclass(slots=True, eq=False)
class TupleExpr(Expr):
    items: list[Expr]
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        return iter(self.items)


@dataclass(slots=True, eq=False)
class ObjectExpr(Expr):
    """``{ k = v }``; a bare-identifier key is a literal string key."""

    items: list[tuple[Expr, Expr]]
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        for k, v in self.items:
            yield k
            yield v


@dataclass(slots=True, eq=False)
class ForExpr(Expr):
    key_var: str | None
    value_var: str
    coll: Expr
    key_expr: Expr | None  # set for object comprehensions
    value_expr: Expr
    cond: Expr | None
    grouping: bool
    rng: SourceRange

    def children(self) -> Iterator[Expr]:
        yield self.coll
        if self.key_expr is not None:
            yield self.key_expr
        yield self.value_expr
        if self.cond is not None:
            yield self.cond


@dataclass(slots=True, eq=False)
class Attribute:
    name: str
    expr: Expr
    rng: SourceRange
    name_rng: SourceRange


@dataclass(slots=True, eq=False)
class Block:
    type: str
    labels: list[str]
    body: "Body"
    rng: SourceRange  # the block header (type and labels)
    label_rngs: list[SourceRange] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Body:
    attributes: dict[str, Attribute]
    blocks: list[Block]
    rng: SourceRange

    def blocks_of(self, type_: str) -> list[Block]:
        return [b for b in self.blocks if b.type == type_]


@dataclass(slots=True, eq=False)
class File:
    filename: str
    body: Body
    digest: str


Traversal = tuple[str, ...]


def traversal_of(e: Expr) -> tuple[Traversal, SourceRange] | None:
    """The static reference path of ``e`` (``var.a.b`` -> ("var","a","b")).

    Index steps with a literal key become their key as a string; the path
    stops at the first dynamic step.
    """
    steps: list[str] = []
    node = e
    while True:
        if isinstance(node, GetAttr):
            steps.append(node.name)
            node = node.obj
        elif isinstance(node, Index):
            if isinstance(node.key, Literal) and isinstance(node.key.value, (str, int)):
                steps.append(str(node.key.value) if not isinstance(node.key.value, str) else node.key.value)
            else:
                steps.clear()  # dynamic index: keep only what precedes it
            node = node.obj
        elif isinstance(node, Variable):
            steps.append(node.name)
            return tuple(reversed(steps)), e.rng
        else:
            return None


def references(e: Expr) -> list[tuple[Traversal, SourceRange]]:
    """Every static reference inside ``e`` (outermost traversal of each chain).

    Names bound by ``for`` expressions and template ``for`` directives are
    not references.
    """
    out: list[tuple[Traversal, SourceRange]] = []
    _collect(e, out, frozenset())
    return out


def _collect(e: Expr, out: list[tuple[Traversal, SourceRange]], bound: frozenset[str]) -> None:
    if isinstance(e, (GetAttr, Index, Variable)):
        t = traversal_of(e)
        if t is not None:
            if t[0][0] not in bound:
                out.append(t)
            # an Index key may itself hold references (a[var.k])
            node: Expr = e
            while isinstance(node, (GetAttr, Index)):
                if isinstance(node, Index):
                    _collect(node.key, out, bound)
                node = node.obj
            return
    if isinstance(e, (ForExpr, TemplateFor)):
        _collect(e.coll, out, bound)
        inner = bound | {n for n in (e.key_var, e.value_var) if n}
        for c in e.children():
            if c is not e.coll:
                _collect(c, out, inner)
        return
    for c in e.children():
        _collect(c, out, bound)
