"""How deep a configuration may nest: a diagnostic at the spot, never a RecursionError.

The parsers, the AST encoding and the evaluator recurse once (or a few
times) per level of nesting, and Python stops at about a thousand frames.
No real configuration nests beyond a few dozen levels, so mlform sets a
limit well inside what every one of them handles and reports a deeper one
as "Nested too deeply" where the limit is crossed (docs/reliability.md):

* :func:`check_text`, before parsing: brackets, braces, parentheses and
  ``${``/``%{`` opened and not yet closed, counted over the raw text (so a
  bracket inside a string counts too: a string would need
  ``MAX_DEPTH`` more openings than closings to be refused);
* :func:`check_expr` / :func:`check_file`, after parsing, walking the tree
  without recursion: expressions nested through what has no brackets, such
  as ``a + b + c ...``, ``- - - x``, ``x[0][0]...`` or ``a ? b : c ? ...``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from mlform.engine.diagnostics import DiagnosticsError, Pos, SourceRange, error
from mlform.engine.load import ast as A

if TYPE_CHECKING:  # lark loads only when python-hcl2 parses (startup time)
    from lark import Token, Tree

MAX_DEPTH = 100
_BRACKET = re.compile(r"[()\[\]{}]")

_SUMMARY = "Nested too deeply"
_DETAIL = (f"This expression nests more than {MAX_DEPTH} levels deep (brackets, braces, parentheses, "
           "interpolations, or a chain of operators, indexes or conditionals), the most mlform reads. "
           "Split it into locals.")


def check_text(text: str, filename: str, line: int = 1, col: int = 1) -> None:
    """Raise "Nested too deeply" at the opening that goes past :data:`MAX_DEPTH` (``text`` starts at ``line:col``)."""
    if text.count("[") + text.count("{") + text.count("(") <= MAX_DEPTH:
        return
    depth = 0
    for m in _BRACKET.finditer(text):
        if m.group() in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise DiagnosticsError(error(_SUMMARY, _DETAIL, _at(text, m.start(), filename, line, col)))
        elif depth:
            depth -= 1


def _at(text: str, i: int, filename: str, line: int, col: int) -> SourceRange:
    before = text.count("\n", 0, i)
    if before:
        c = i - text.rindex("\n", 0, i)
    else:
        c = col + i
    p = Pos(line + before, c)
    return SourceRange(filename, p, Pos(p.line, p.col + 1))


def check_expr(e: A.Expr) -> None:
    """Raise "Nested too deeply" at ``e`` when a node in it is deeper than :data:`MAX_DEPTH`
    (a chain of operators has no one place to point at: the whole expression is the mistake)."""
    stack: list[tuple[A.Expr, int]] = [(e, 1)]
    while stack:
        node, d = stack.pop()
        if d > MAX_DEPTH:
            raise DiagnosticsError(error(_SUMMARY, _DETAIL, e.rng))
        stack.extend((c, d + 1) for c in node.children())


def check_body(body: A.Body) -> None:
    """Every expression of ``body`` and its blocks (block nesting is bounded by :func:`check_text`)."""
    todo: list[A.Body] = [body]
    while todo:
        b = todo.pop()
        for attr in b.attributes.values():
            check_expr(attr.expr)
        todo.extend(blk.body for blk in b.blocks)


def check_file(f: A.File) -> A.File:
    check_body(f.body)
    return f


# The rules of python-hcl2's parse tree that are a level of nesting (an AST node), and
# the most of them one path may hold: its builder recurses 2-6 frames per level, so a
# tree deeper than this is refused before the builder walks it (the AST check after
# building holds the exact limit; this one only needs to be at least as loose).
_LEVELS = frozenset({"tuple", "object", "function_call", "index_expr_term", "get_attr_expr_term",
                     "attr_splat_expr_term", "full_splat_expr_term", "conditional", "binary_op", "unary_op",
                     "for_tuple_expr", "for_object_expr", "interpolation", "block"})
MAX_TREE_DEPTH = MAX_DEPTH + 10


def check_tree(tree: Tree[Token], where: Callable[[Tree[Token]], SourceRange]) -> None:
    """Raise "Nested too deeply" at the attribute whose expression nests more than
    :data:`MAX_TREE_DEPTH` levels in ``tree`` (``where`` places a rule in the user's file)."""
    from lark import Tree

    stack: list[tuple[Tree[Token], int, Tree[Token]]] = [(tree, 0, tree)]
    while stack:
        node, d, anchor = stack.pop()
        if node.data in _LEVELS:
            d += 1
            if d > MAX_TREE_DEPTH:
                raise DiagnosticsError(error(_SUMMARY, _DETAIL, where(anchor)))
        elif node.data == "attribute":
            anchor = node.children[-1] if isinstance(node.children[-1], Tree) else node  # its expression
        stack.extend((c, d, anchor) for c in node.children if isinstance(c, Tree))


__all__ = ["MAX_DEPTH", "MAX_TREE_DEPTH", "check_text", "check_expr", "check_body", "check_file", "check_tree"]
