"""Strings, templates and heredocs for the hand-written parser.

A quoted string is read as flat pieces (text, ``${...}`` interpolations,
``%{...}`` directives) and then assembled into nested ``TemplateIf`` /
``TemplateFor`` nodes, as ``hclbuild.Builder`` does from python-hcl2's tree.
A heredoc holding a template goes through ``hcl.parse_template``.
"""

from __future__ import annotations

import re
from typing import Any

from mlform.engine.diagnostics import DiagnosticsError, SourceRange
from mlform.engine.load import ast as A
from mlform.engine.load.fastlex import KEYWORDS, LITERAL_WORDS, Fallback, Scanner, unescape

_STRING_CHARS = re.compile(r'(?:(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^"\\])|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+')
_ESC_INTERP = re.compile(r"\$\$\{[^}]*\}")
_ESC_DIRECTIVE = re.compile(r"%%\{[^}]*\}")
_HEREDOC = re.compile(r"<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc)[ \t]*\r?\n")
_HEREDOC_TRIM = re.compile(r"<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*"
                           r"(?P=heredoc_trim)[ \t]*\r?\n")


class _Directive:
    """A ``%{...}`` piece of a template before if/for structure is assembled."""

    __slots__ = ("kind", "rng", "left", "right", "expr", "names")

    def __init__(self, kind: str, rng: SourceRange, left: bool, right: bool,
                 expr: A.Expr | None = None, names: list[str] | None = None) -> None:
        self.kind, self.rng, self.left, self.right = kind, rng, left, right
        self.expr, self.names = expr, names or []


class TemplateParser(Scanner):
    """Quoted strings (block labels included), templates and heredocs."""

    def quoted_parts(self) -> tuple[list[Any], int]:
        """A block label's parts: raw text (str) or an interpolation/directive tuple; and its end."""
        pieces = self.string_pieces()
        return [p[1] if p[0] == "t" else p for p in pieces], self.i

    def string_pieces(self) -> list[tuple[Any, ...]]:
        """From an opening quote to after the closing one: ("t", raw, a, b) text
        tokens, ("e", expr, left, right) interpolations (with their ``~`` strip
        markers) and ("d", _Directive) directives."""
        s = self.s
        self.i += 1
        out: list[tuple[Any, ...]] = []
        while True:
            i = self.i
            c = s[i:i + 1]
            if c == '"':
                self.i += 1
                return out
            if not c:
                raise Fallback("unterminated string")
            if c == "$" and s.startswith("${", i):
                self.i += 2
                left = s.startswith("~", self.i)
                if left:
                    self.i += 1
                self.depth += 1
                e, _, _ = self.expression()
                self.depth -= 1
                self.ws()
                right = s.startswith("~", self.i)
                if right:
                    self.i += 1
                self.expect("}")
                out.append(("e", e, left, right))
                continue
            if c == "%" and s.startswith("%{", i):
                self.depth += 1
                out.append(("d", self.directive()))
                self.depth -= 1
                continue
            if s.startswith("$${", i):
                m = _ESC_INTERP.match(s, i)
            elif s.startswith("%%{", i):
                m = _ESC_DIRECTIVE.match(s, i)
            else:
                m = _STRING_CHARS.match(s, i)
            if not m or m.end() == i or "\n" in m.group():
                raise Fallback("bad string text")
            self.i = m.end()
            out.append(("t", m.group(), i, m.end()))

    def directive(self) -> _Directive:
        s = self.s
        start = self.i
        self.i += 2
        left = s.startswith("~", self.i)
        if left:
            self.i += 1
        self.ws()
        w = self.word()
        if w is None:
            raise Fallback("bad directive")
        kind = w[0]
        expr: A.Expr | None = None
        names: list[str] = []
        if kind == "if":
            expr, _, _ = self.expression()
        elif kind == "for":
            self.ws()
            w = self.word()
            if w is None or w[0] in LITERAL_WORDS or w[0] in KEYWORDS:
                raise Fallback("bad for directive")
            names.append(w[0])
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
                self.ws()
                w = self.word()
                if w is None or w[0] in LITERAL_WORDS or w[0] in KEYWORDS:
                    raise Fallback("bad for directive")
                names.append(w[0])
                self.ws()
            w = self.word()
            if w is None or w[0] != "in":
                raise Fallback("for directive without in")
            expr, _, _ = self.expression()
        elif kind not in ("else", "endif", "endfor"):
            raise Fallback("unknown directive")
        self.ws()
        right = s.startswith("~", self.i)
        if right:
            self.i += 1
        close = self.expect("}")
        return _Directive(kind, self.rng(start, close + 1), left, right, expr, names)

    def string(self) -> tuple[A.Expr, int, int]:
        start = self.i
        pieces = self.string_pieces()
        end = self.i
        rng = self.rng(start, end)
        flat: list[Any] = []
        strips: dict[int, tuple[bool, bool]] = {}
        for p in pieces:
            if p[0] == "t":
                flat.append(A.Literal(unescape(p[1]), self.rng(p[2], p[3])))
            else:
                if p[0] == "e":
                    strips[len(flat)] = (p[2], p[3])
                flat.append(p[1])
        parts = _assemble(flat, strips)
        if len(parts) == 1 and isinstance(parts[0], A.Literal):
            return A.Literal(parts[0].value, rng), start, end
        if not parts:
            return A.Literal("", rng), start, end
        if len(parts) == 1 and not isinstance(parts[0], (A.TemplateIf, A.TemplateFor)):
            return parts[0], start, end
        return A.Template(parts, rng), start, end

    def heredoc(self) -> tuple[A.Expr, int, int]:
        s, i = self.s, self.i
        trim = s.startswith("<<-", i)
        m = self.take(_HEREDOC_TRIM if trim else _HEREDOC, "not a heredoc")
        text = m.group()
        body = text[text.index("\n") + 1:]
        body = body[: body.rstrip("\n").rfind("\n") + 1] if "\n" in body.rstrip("\n") else ""
        lines = body.splitlines(keepends=True)
        cut = 0
        if trim and lines:
            indents = [len(ln) - len(ln.lstrip(" \t")) for ln in lines if ln.strip()]
            cut = min(indents) if indents else 0
            lines = [ln[cut:] if ln.strip() else ln.lstrip(" \t") for ln in lines]
        content = "".join(lines)
        rng = self.rng(i, m.end())
        if "${" in content or "%{" in content:
            # templates in heredocs go through hcl.parse_template, as they always did
            from mlform.engine.load.hcl import parse_template

            start_line = self.pos(i).line + 1
            try:
                return parse_template(content, self.fn, start_line, 1 + cut, rng=rng, indent=cut), i, m.end()
            except DiagnosticsError:
                raise Fallback("an error in a heredoc template") from None
        return A.Literal(content, rng), i, m.end()


def _strip_whitespace(flat: list[Any], strips: dict[int, tuple[bool, bool]]) -> list[Any]:
    """HCL's ``~`` strip markers, of directives and (by index, in ``strips``) interpolations."""
    out = list(flat)
    for i, piece in enumerate(flat):
        if not isinstance(piece, _Directive):
            left, right = strips.get(i, (False, False))
            if left and i > 0 and isinstance(out[i - 1], A.Literal) and isinstance(out[i - 1].value, str):
                out[i - 1] = A.Literal(out[i - 1].value.rstrip(), out[i - 1].rng)
            if right and i + 1 < len(out) and isinstance(out[i + 1], A.Literal) \
                    and isinstance(out[i + 1].value, str):
                out[i + 1] = A.Literal(out[i + 1].value.lstrip(), out[i + 1].rng)
            continue
        if piece.left and i > 0 and isinstance(out[i - 1], A.Literal) and isinstance(out[i - 1].value, str):
            out[i - 1] = A.Literal(out[i - 1].value.rstrip(), out[i - 1].rng)
        if piece.right and i + 1 < len(out) and isinstance(out[i + 1], A.Literal) \
                and isinstance(out[i + 1].value, str):
            out[i + 1] = A.Literal(out[i + 1].value.lstrip(), out[i + 1].rng)
    return [p for p in out if not (isinstance(p, A.Literal) and p.value == "")]


def _assemble(flat: list[Any], strips: dict[int, tuple[bool, bool]]) -> list[A.Expr]:
    """Flat template pieces -> nested TemplateIf / TemplateFor (as hclbuild.Builder.assemble)."""
    flat = _strip_whitespace(flat, strips)
    root: list[A.Expr] = []
    stack: list[tuple[_Directive, list[A.Expr], list[A.Expr] | None]] = []
    cur = root
    for piece in flat:
        if not isinstance(piece, _Directive):
            cur.append(piece)
            continue
        kind = piece.kind
        if kind in ("if", "for"):
            body: list[A.Expr] = []
            stack.append((piece, body, None))
            cur = body
        elif kind == "else":
            if not stack or stack[-1][0].kind != "if" or stack[-1][2] is not None:
                raise Fallback("misplaced else")
            start, then, _ = stack.pop()
            els: list[A.Expr] = []
            stack.append((start, then, els))
            cur = els
        else:
            want = "if" if kind == "endif" else "for"
            if not stack or stack[-1][0].kind != want:
                raise Fallback("unmatched end directive")
            start, b1, b2 = stack.pop()
            cur = stack[-1][2] if stack and stack[-1][2] is not None else (stack[-1][1] if stack else root)
            assert start.expr is not None
            if start.kind == "if":
                cur.append(A.TemplateIf(start.expr, b1, b2 or [], start.rng))
            elif len(start.names) == 2:
                cur.append(A.TemplateFor(start.names[0], start.names[1], start.expr, b1, start.rng))
            else:
                cur.append(A.TemplateFor(None, start.names[0], start.expr, b1, start.rng))
    if stack:
        raise Fallback("unterminated directive")
    return root
