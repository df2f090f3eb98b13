"""Reading python-hcl2's Lark parse tree: its nodes, and their positions in the user's file.

python-hcl2 parses with ``propagate_positions=True``, so every rule and token
of its tree knows its line and column; :class:`Mapper` turns them into
:class:`SourceRange` objects of the user's file, also for a snippet (an
expression, a template, a directive) parsed on its own. A template's ``~``
strip markers are applied here too (:func:`strip_whitespace`).
"""

from __future__ import annotations

from lark import Token, Tree

from mlform.engine.diagnostics import Pos, SourceRange
from mlform.engine.load import ast as A

_SKIP = {"new_line_or_comment"}


class Mapper:
    """Maps positions in a parsed snippet back to the user's file."""

    __slots__ = ("filename", "line0", "col0", "indent")

    def __init__(self, filename: str, line0: int = 1, col0: int = 1, indent: int = 0) -> None:
        # indent: columns cut from the start of the snippet's later lines (a <<- heredoc)
        self.filename, self.line0, self.col0, self.indent = filename, line0, col0, indent

    def pos(self, line: int, col: int) -> Pos:
        if line == 1:
            return Pos(self.line0, col + self.col0 - 1)
        return Pos(line + self.line0 - 1, col + self.indent)

    def of(self, node: Tree[Token] | Token) -> SourceRange:
        if isinstance(node, Token):
            return SourceRange(self.filename, self.pos(node.line or 1, node.column or 1),
                               self.pos(node.end_line or 1, node.end_column or 1))
        m = node.meta
        if getattr(m, "empty", True):
            return SourceRange(self.filename, self.pos(1, 1), self.pos(1, 1))
        return SourceRange(self.filename, self.pos(m.line, m.column), self.pos(m.end_line, m.end_column))


def kids_of(t: Tree[Token]) -> list[Token | Tree[Token]]:
    return [c for c in t.children if not (isinstance(c, Tree) and c.data in _SKIP)]


def subtrees_of(t: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in t.children if isinstance(c, Tree) and c.data not in _SKIP]


def as_tree(node: Token | Tree[Token]) -> Tree[Token]:
    """``node``, where the grammar puts a rule (not a token)."""
    if isinstance(node, Token):
        raise ValueError(f"unexpected token {node!r}")
    return node


def as_token(node: Token | Tree[Token]) -> Token:
    """``node``, where the grammar puts a token (not a rule)."""
    if not isinstance(node, Token):
        raise ValueError(f"unexpected parse tree node {node.data}")
    return node


def node_name(node: Tree[Token] | Token) -> str:
    """identifier / keyword / literal_value used as a name."""
    if isinstance(node, Token):
        return str(node)
    tok = node.children[0]
    return str(tok)


def _strip_flags(piece: Tree[Token]) -> tuple[bool, bool]:
    """(left, right): whether a ``%{~ ... ~}`` directive strips the whitespace beside it."""
    toks = [c for c in piece.children if isinstance(c, Token)]
    left = len(toks) > 1 and str(toks[0]) == "%{" and str(toks[1]) == "~"
    right = len(toks) > 1 and str(toks[-1]) == "}" and str(toks[-2]) == "~"
    return left, right


def strip_whitespace(flat: list[A.Expr | Tree[Token]], strips: dict[int, tuple[bool, bool]]) -> list[A.Expr | Tree[Token]]:
    """Apply HCL's strip markers: ``~`` removes the whitespace (newlines too) on its side."""
    out = list(flat)
    for i, piece in enumerate(flat):
        if isinstance(piece, Tree):
            left, right = _strip_flags(piece)
        else:
            left, right = strips.get(i, (False, False))
        if left and i > 0:
            before = out[i - 1]
            if isinstance(before, A.Literal) and isinstance(before.value, str):
                out[i - 1] = A.Literal(before.value.rstrip(), before.rng)
        if right and i + 1 < len(out):
            after = out[i + 1]
            if isinstance(after, A.Literal) and isinstance(after.value, str):
                out[i + 1] = A.Literal(after.value.lstrip(), after.rng)
    return [p for p in out if not (isinstance(p, A.Literal) and p.value == "")]
