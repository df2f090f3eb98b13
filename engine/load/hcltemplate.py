"""Expressions and templates parsed on their own, at a position in a file.

A ``-var`` value, a heredoc body or a ``templatefile`` arrive as text;
:func:`parse_template` splits it at each ``${...}`` / ``%{...}`` and parses
each sequence with python-hcl2's grammar (:func:`parse_expression`), so that
ranges point into the user's file.
"""

from __future__ import annotations

import re

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from mlform.engine.diagnostics import DiagnosticsError, Pos, SourceRange, error
from mlform.engine.load import ast as A
from mlform.engine.load.depth import check_expr, check_text, check_tree
from mlform.engine.load.hclbuild import Builder, Piece
from mlform.engine.load.hclerrors import syntax_error
from mlform.engine.load.hclgrammar import parse_tree
from mlform.engine.load.hcltree import Mapper, as_tree, kids_of, subtrees_of


def parse_expression(src: str, filename: str, line: int = 1, col: int = 1, indent: int = 0) -> A.Expr:
    """Parse a single expression written at ``line:col`` of ``filename`` (``indent``: see Mapper)."""
    check_text(src, filename, line, col)
    prefix = "x="
    m = Mapper(filename, line, col - len(prefix), indent)
    text = prefix + src + "\n"
    try:
        tree = parse_tree(text)
    except UnexpectedInput as exc:
        raise DiagnosticsError(syntax_error(exc, filename, text, m)) from None
    check_tree(tree, m.of)
    attr = subtrees_of(as_tree(tree.children[0]))[0]
    # inside ${ } (or a -var value): line breaks are free, as in brackets
    e = Builder(m, text, depth=1).expr(kids_of(attr)[-1])
    check_expr(e)
    return e


_OPEN = re.compile(r"(\$\{|%\{)")


def parse_template(text: str, filename: str, line: int = 1, col: int = 1,
                   rng: SourceRange | None = None, indent: int = 0) -> A.Expr:
    """Parse template text (heredoc body, templatefile) with ``${}``/``%{}``.

    ``text`` starts at ``line:col``; ``indent`` columns were cut from the
    start of each later line (a ``<<-`` heredoc), so positions add them back.
    """
    check_text(text, filename, line, col)
    e = _parse_template(text, filename, line, col, rng, indent)
    check_expr(e)
    return e


def _parse_template(text: str, filename: str, line: int, col: int, rng: SourceRange | None, indent: int
                    ) -> A.Expr:
    # the pieces are placed in the file already (parse_expression, _directive_tree): the builder
    # that assembles them maps nothing
    b = Builder(Mapper(filename))
    whole = rng or SourceRange(filename, Pos(line, col), Pos(line, col))
    flat: list[Piece] = []
    strips: dict[int, tuple[bool, bool]] = {}
    i = 0
    cur_line, cur_col = line, col

    def advance(s: str) -> None:
        nonlocal cur_line, cur_col
        nl = s.count("\n")
        if nl:
            cur_line += nl
            cur_col = len(s) - s.rfind("\n") + indent
        else:
            cur_col += len(s)

    while i < len(text):
        mt = _OPEN.search(text, i)
        # literal text, with $${ and %%{ escapes
        j = mt.start() if mt else len(text)
        while mt and j > 0 and text[j - 1] in "$%" and text[j - 1] == text[j]:
            mt = _OPEN.search(text, j + 2)
            j = mt.start() if mt else len(text)
        if j > i:
            lit = text[i:j]
            here = SourceRange(filename, Pos(cur_line, cur_col), Pos(cur_line, cur_col))
            flat.append(A.Literal(lit.replace("$${", "${").replace("%%{", "%{"), here))
            advance(lit)
            i = j
        if not mt:
            break
        end = _match_brace(text, i + 2)
        if end < 0:
            raise DiagnosticsError(error("Unterminated template sequence",
                                         "A ${ or %{ is not closed with }.",
                                         SourceRange(filename, Pos(cur_line, cur_col), Pos(cur_line, cur_col))))
        inner = text[i + 2:end]
        start_line, start_col = cur_line, cur_col + 2
        if mt.group(1) == "${":
            strips[len(flat)] = (inner.startswith("~"), inner.endswith("~"))
            body = inner[1:] if inner.startswith("~") else inner
            lead = body[:len(body) - len(body.lstrip())]
            if "\n" in lead:
                src_line, src_col = start_line + lead.count("\n"), len(lead) - lead.rfind("\n") + indent
            else:
                src_line, src_col = start_line, start_col + len(inner) - len(body) + len(lead)
            src = body.strip()
            src = src[:-1].rstrip() if src.endswith("~") else src
            flat.append(parse_expression(src, filename, src_line, src_col, indent))
        else:
            flat.append(_directive_tree(inner, filename, start_line, start_col, indent))
        advance(text[i:end + 1])
        i = end + 1
    parts = b.assemble(flat, strips)
    if len(parts) == 1 and isinstance(parts[0], A.Literal):
        return A.Literal(parts[0].value, whole)
    if len(parts) == 1 and not isinstance(parts[0], (A.TemplateIf, A.TemplateFor)):
        return parts[0]
    if not parts:
        return A.Literal("", whole)
    return A.Template(parts, whole)


def _directive_tree(inner: str, filename: str, line: int, col: int, indent: int) -> Tree[Token]:
    """Re-parse a ``%{ ... }`` directive through the grammar's string rule."""
    src = '"%{' + inner + '}"'
    text = "x=" + src + "\n"
    try:
        tree = parse_tree(text)
    except UnexpectedInput as exc:
        m = Mapper(filename, line, col - 5, indent)
        raise DiagnosticsError(syntax_error(exc, filename, text, m)) from None
    attr = subtrees_of(as_tree(tree.children[0]))[0]
    string_t = as_tree(kids_of(as_tree(kids_of(attr)[-1]))[0])
    part = [p for p in string_t.children if isinstance(p, Tree)][0]
    directive = as_tree(part.children[0])
    # Expressions inside are built later, by parse_template's builder (which maps
    # nothing): shift the positions of every node and token now, so that ranges
    # point into the user's file.
    _shift(directive, line, col - 5, indent)
    check_tree(directive, Mapper(filename).of)  # a chain like a.b.b.b... has no brackets for check_text
    return directive


def _shift(t: Tree[Token], line0: int, col0: int, indent: int) -> None:
    for sub in t.iter_subtrees():
        m = sub.meta
        if not getattr(m, "empty", True):
            m.column += col0 - 1 if m.line == 1 else indent
            m.line += line0 - 1
            m.end_column += col0 - 1 if m.end_line == 1 else indent
            m.end_line += line0 - 1
        for tok in sub.children:
            if isinstance(tok, Token) and tok.line is not None and tok.end_line is not None \
                    and tok.column is not None and tok.end_column is not None:
                tok.column += col0 - 1 if tok.line == 1 else indent
                tok.line += line0 - 1
                tok.end_column += col0 - 1 if tok.end_line == 1 else indent
                tok.end_line += line0 - 1


def _match_brace(text: str, i: int) -> int:
    depth = 1
    in_str = False
    while i < len(text):
        c = text[i]
        if in_str:
            if c == "\\":
                i += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
