"""A hand-written HCL parser that builds the same positioned AST as ``hcl.py``.

python-hcl2 (Lark LALR in pure Python) takes ~1.3 s per 1,000 blocks; this
recursive-descent parser reads the same native syntax about ten times
faster. It mirrors python-hcl2's grammar, including its quirks, so that the
AST is *identical* to the one ``hcl.py`` builds from the Lark tree: the same
node types, values and source ranges (a binary operation's trailing line
break extends its attribute's range, an empty body sits at 1:1, string
parts around ``$${`` stay separate, ...).

It handles only what it is sure of. Anything else - a syntax error, a
duplicate argument, a construct it does not know (``provider::ns::fn``,
``\\"`` template strings, an operator after a line break, ...) - raises
:class:`Fallback`, and ``hcl.parse_text`` parses the file with python-hcl2,
which reports every diagnostic exactly as before. The equivalence is tested
on every configuration in the repository and on generated ones
(``tests/unit/engine/test_fastparse*.py``).

This module imports neither lark nor python-hcl2.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from mlform.engine.diagnostics import Pos, SourceRange
from mlform.engine.load import ast as A


# Pos and SourceRange are frozen dataclasses: their __init__ sets each slot
# through object.__setattr__. Setting the slots directly builds the same
# objects in half the time (tens of thousands of them per 1,000 blocks).
# The slot descriptors come from the class __dict__ (vars()): ``Pos.line`` is
# the same object, but type checkers read it as the instance's int.
_new = object.__new__
_set_line: Callable[[Pos, int], None] = vars(Pos)["line"].__set__
_set_col: Callable[[Pos, int], None] = vars(Pos)["col"].__set__
_set_fn: Callable[[SourceRange, str], None] = vars(SourceRange)["filename"].__set__
_set_start: Callable[[SourceRange, Pos], None] = vars(SourceRange)["start"].__set__
_set_end: Callable[[SourceRange, Pos], None] = vars(SourceRange)["end"].__set__


def make_pos(line: int, col: int) -> Pos:
    """``Pos(line, col)``, faster."""
    p = _new(Pos)
    _set_line(p, line)
    _set_col(p, col)
    return p


def make_range(filename: str, start: Pos, end: Pos) -> SourceRange:
    """``SourceRange(filename, start, end)``, faster."""
    r = _new(SourceRange)
    _set_fn(r, filename)
    _set_start(r, start)
    _set_end(r, end)
    return r


class Fallback(Exception):
    """The text needs python-hcl2 (a syntax error, or syntax this parser leaves to it)."""


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def unescape(s: str) -> str:
    """Quoted-string escapes (``\\n``, ``\\"``, ``\\uNNNN``) and ``$${``/``%%{``."""
    if "\\" not in s and "$${" not in s and "%%{" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
                continue
            if n == "u" and i + 6 <= len(s):
                out.append(chr(int(s[i + 2:i + 6], 16)))
                i += 6
                continue
            if n == "U" and i + 10 <= len(s):
                out.append(chr(int(s[i + 2:i + 10], 16)))
                i += 10
                continue
        if s.startswith("$${", i) or s.startswith("%%{", i):
            out.append(s[i + 1:i + 3])
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


# python-hcl2's terminals (hcl2.lark), as regular expressions
_WS = re.compile(r"[ \t\r]+")
_NL = re.compile(r"\n[ \t]*|#.*\n|//.*\n|/\*(?:.|\n)*?\*/")
_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_-]*")
_FLOAT = re.compile(r"(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)\.[0-9]+(?:[eE][+-]?[0-9]+)?"
                    r"|(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)[eE][+-]?[0-9]+")
_INT = re.compile(r"(?:-[0-9])?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_STRING_CHARS = re.compile(r'(?:(?:(?!\$\$\{)(?!\$\{)(?!%%\{)(?!%\{)[^"\\])|\\.|(?:\$(?!\$?\{))|(?:%(?!%?\{)))+')
_ESC_INTERP = re.compile(r"\$\$\{[^}]*\}")
_ESC_DIRECTIVE = re.compile(r"%%\{[^}]*\}")
_HEREDOC = re.compile(r"<<(?P<heredoc>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*(?P=heredoc)\r?\n")
_HEREDOC_TRIM = re.compile(r"<<-(?P<heredoc_trim>[a-zA-Z][a-zA-Z0-9._-]*)\r?\n(?:(?:.|\n)*?\r?\n)??\s*"
                           r"(?P=heredoc_trim)\r?\n")

_LITERAL_WORDS = {"true": True, "false": False, "null": None}
_KEYWORDS = frozenset(("in", "for", "if", "for_each", "else", "endif", "endfor"))
# operator -> precedence level (higher binds tighter)
_LEVEL = {"||": 0, "&&": 1, "==": 2, "!=": 2, "<=": 3, ">=": 3, "<": 3, ">": 3,
          "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}
# after blanks, longest spelling first; "//" and "/*" start comments
_OPERATOR = re.compile(r"[ \t\r]*(\|\||&&|==|!=|<=|>=|<|>|\+|-|\*|/(?![/*])|%)")
# a line break before one of these would be merged into the operator by python-hcl2's post-lexer
_MERGES_AFTER_NL = frozenset("=!<>*/%&|+?")


class _Directive:
    """A ``%{...}`` piece of a template before if/for structure is assembled."""

    __slots__ = ("kind", "rng", "left", "right", "expr", "names")

    def __init__(self, kind: str, rng: SourceRange, left: bool, right: bool,
                 expr: A.Expr | None = None, names: list[str] | None = None) -> None:
        self.kind, self.rng, self.left, self.right = kind, rng, left, right
        self.expr, self.names = expr, names or []


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.s = text
        self.n = len(text)
        self.fn = filename
        self.i = 0
        self.starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.posmemo: dict[int, Pos] = {}
        self.rngmemo: dict[tuple[int, int], SourceRange] = {}

    # --- positions ------------------------------------------------------------
    def pos(self, off: int) -> Pos:
        p = self.posmemo.get(off)
        if p is None:
            line = bisect_right(self.starts, off)
            p = self.posmemo[off] = make_pos(line, off - self.starts[line - 1] + 1)
        return p

    def rng(self, a: int, b: int) -> SourceRange:
        k = (a, b)
        r = self.rngmemo.get(k)
        if r is None:
            r = self.rngmemo[k] = make_range(self.fn, self.pos(a), self.pos(b))
        return r

    # --- lexing helpers -------------------------------------------------------
    def ws(self) -> None:
        m = _WS.match(self.s, self.i)
        if m:
            self.i = m.end()

    def nl(self) -> tuple[int, int] | None:
        """A run of line breaks and comments (one new_line_or_comment), from here."""
        s, i = self.s, self.i
        first = -1
        end = -1
        while True:
            m = _WS.match(s, i)
            if m:
                i = m.end()
            m = _NL.match(s, i)
            if not m:
                break
            if first < 0:
                first = m.start()
            i = end = m.end()
        if first < 0:
            return None
        self.i = end
        return first, end

    def peek(self) -> str:
        self.ws()
        return self.s[self.i:self.i + 1]

    def word(self) -> tuple[str, int, int] | None:
        m = _NAME.match(self.s, self.i)
        if not m:
            return None
        self.i = m.end()
        return m.group(), m.start(), m.end()

    def expect(self, ch: str) -> int:
        """Consume ``ch`` after optional blanks; its start offset."""
        self.ws()
        if not self.s.startswith(ch, self.i):
            raise Fallback(f"expected {ch!r} at {self.i}")
        self.i += len(ch)
        return self.i - len(ch)

    def take(self, pattern: re.Pattern[str], why: str) -> re.Match[str]:
        """Consume ``pattern`` right here (no blanks skipped); its match."""
        m = pattern.match(self.s, self.i)
        if not m:
            raise Fallback(why)
        self.i = m.end()
        return m

    def check_no_merge(self) -> None:
        """Bail when a line break is followed by an operator (python-hcl2 merges the two)."""
        s, i = self.s, self.i
        if _NL_OR_WS_NL.match(s, i) is None:
            return
        j = i
        while True:
            m = _WS.match(s, j)
            if m:
                j = m.end()
            m = _NL.match(s, j)
            if not m:
                break
            j = m.end()
        m = _WS.match(s, j)
        if m:
            j = m.end()
        if s[j:j + 1] in _MERGES_AFTER_NL and s[j:j + 1]:
            raise Fallback("operator after a line break")

    # --- structure --------------------------------------------------------------
    def body(self, top: bool) -> tuple[A.Body, int, int]:
        attrs: dict[str, A.Attribute] = {}
        blocks: list[A.Block] = []
        first = last = -1
        s = self.s
        while True:
            nl = self.nl()
            if nl is not None:
                if first < 0:
                    first = nl[0]
                last = nl[1]
            self.ws()
            if self.i >= self.n:
                if not top:
                    raise Fallback("end of file in a block")
                break
            c = s[self.i]
            if c == "}" and not top:
                break
            w = self.word()
            if w is None:
                raise Fallback(f"unexpected {c!r} in a body")
            name, ws_, we = w
            if first < 0:
                first = ws_
            m = _EQ.match(s, self.i)
            if m:
                self.i = m.end()
                expr, _, te = self.expression()
                if name in attrs:
                    raise Fallback("duplicate argument")
                attrs[name] = A.Attribute(name, expr, self.rng(ws_, te), self.rng(ws_, we))
                last = te
            else:
                blk, be = self.block(name, ws_, we)
                blocks.append(blk)
                last = be
        if first < 0:
            body_rng = self.rng(0, 0)
        else:
            body_rng = self.rng(first, last)
        return A.Body(attrs, blocks, body_rng), first, last

    def block(self, type_: str, ts: int, te: int) -> tuple[A.Block, int]:
        labels: list[str] = []
        label_rngs: list[SourceRange] = []
        s = self.s
        end = te
        while True:
            self.ws()
            c = s[self.i:self.i + 1]
            if c == '"':
                a = self.i
                parts, b = self.quoted_parts()
                raw: list[str] = []
                for p in parts:
                    if not isinstance(p, str):
                        raise Fallback("template in a block label")
                    raw.append(p)
                labels.append(unescape("".join(raw)))
                label_rngs.append(self.rng(a, b))
                end = b
            elif c and (c.isalpha() or c == "_"):
                w = self.word()
                assert w is not None
                labels.append(w[0])
                label_rngs.append(self.rng(w[1], w[2]))
                end = w[2]
            else:
                break
        self.nl()
        self.ws()
        if s[self.i:self.i + 1] != "{":
            raise Fallback("block without {")
        self.i += 1
        body, _, _ = self.body(top=False)
        close = self.expect("}")
        return A.Block(type_, labels, body, self.rng(ts, end), label_rngs), close + 1

    # --- expressions ----------------------------------------------------------
    def expression(self) -> tuple[A.Expr, int, int]:
        """``expression``: (node, start, end) of its python-hcl2 tree."""
        cond, cs, ce = self.binary(0)
        self.ws()
        if self.s[self.i:self.i + 1] != "?":
            return cond, cs, ce
        self.i += 1
        self.nl()
        then, _, _ = self.expression()
        self.nl()
        self.take(_COLON, "conditional without :")
        self.nl()
        else_, _, ee = self.expression()
        return A.Conditional(cond, then, else_, self.rng(cs, ee)), cs, ee

    def binary(self, min_level: int) -> tuple[A.Expr, int, int]:
        """Operators by precedence climbing (left-associative); a line break
        after a binary operation belongs to it, as in python-hcl2's tree."""
        left, ls, le = self.unary()
        s = self.s
        while True:
            m = _OPERATOR.match(s, self.i)
            if m is None:
                if _NL_OR_WS_NL.match(s, self.i) is not None:
                    self.check_no_merge()
                return left, ls, le
            op = m.group(1)
            level = _LEVEL[op]
            if level < min_level:
                return left, ls, le
            if op == "-" and _is_number(s, m.start(1)):
                # python-hcl2 lexes "-22" here as a number literal (a syntax error after a term)
                raise Fallback("number literal after a term")
            self.i = m.end()
            self.nl()
            right, _, end = self.binary(level + 1)
            left = A.Binary(op, left, right, SourceRange(self.fn, left.rng.start, right.rng.end))
            if _NL_OR_WS_NL.match(s, self.i) is not None:
                self.check_no_merge()
                nl = self.nl()
                if nl is not None:
                    end = nl[1]
            le = end

    def unary(self) -> tuple[A.Expr, int, int]:
        self.ws()
        s, i = self.s, self.i
        c = s[i:i + 1]
        if (c == "-" and not _is_number(s, i)) or c == "!":
            self.i += 1
            self.ws()
            if s[self.i:self.i + 1] == "!" or (s[self.i:self.i + 1] == "-" and not _is_number(s, self.i)):
                raise Fallback("unary operator on a unary operator")
            operand, _, te = self.term()
            return A.Unary(c, operand, self.rng(i, te)), i, te
        return self.term()

    def term(self) -> tuple[A.Expr, int, int]:
        """``expr_term``: a primary and its index / attribute / splat steps."""
        node, ts, te = self.primary()
        s = self.s
        while True:
            self.ws()
            i = self.i
            c = s[i:i + 1]
            if c == ".":
                if s.startswith("...", i):
                    break
                if s.startswith(".*", i):
                    node, te = self.splat(node, ts, i + 2)
                    continue
                self.i = i + 1
                m = _DIGITS.match(s, self.i)
                if m:
                    self.i = m.end()
                    key: A.Expr = A.Literal(int(m.group()), self.rng(m.start(), m.end()))
                    te = m.end()
                    node = A.Index(node, key, self.rng(ts, te))
                    continue
                w = self.word()
                if w is None:
                    raise Fallback("bad attribute access")
                te = w[2]
                node = A.GetAttr(node, w[0], self.rng(ts, te))
            elif c == "[":
                if s.startswith("[*]", i):
                    node, te = self.splat(node, ts, i + 3)
                    continue
                self.i = i + 1
                self.nl()
                key, _, _ = self.expression()
                self.nl()
                te = self.expect("]") + 1
                node = A.Index(node, key, self.rng(ts, te))
            else:
                break
        return node, ts, te

    def splat(self, source: A.Expr, ts: int, after: int) -> tuple[A.Expr, int]:
        """``.*`` / ``[*]`` and the steps after it (all of them belong to the splat)."""
        s = self.s
        self.i = after
        te = after
        steps: list[tuple[str, Any, int, int]] = []
        while True:
            self.ws()
            i = self.i
            c = s[i:i + 1]
            if c == "." and not s.startswith(("...", ".*"), i):
                self.i = i + 1
                m = _DIGITS.match(s, self.i)
                if m:
                    self.i = te = m.end()
                    steps.append(("i", A.Literal(int(m.group()), self.rng(m.start(), m.end())), i, te))
                    continue
                w = self.word()
                if w is None:
                    raise Fallback("bad attribute access")
                te = w[2]
                steps.append(("a", w[0], i, te))
            elif c == "[" and not s.startswith("[*]", i):
                self.i = i + 1
                self.nl()
                key, _, _ = self.expression()
                self.nl()
                te = self.expect("]") + 1
                steps.append(("i", key, i, te))
            else:
                break
        rng = self.rng(ts, te)
        each: A.Expr = A.SplatItem(rng)
        for kind, v, a, b in steps:
            if kind == "a":
                each = A.GetAttr(each, v, self.rng(a, b))
            else:
                each = A.Index(each, v, self.rng(a, b))
        return A.Splat(source, each, rng), te

    def primary(self) -> tuple[A.Expr, int, int]:
        self.ws()
        s, i = self.s, self.i
        c = s[i:i + 1]
        if c == "(":
            self.i += 1
            self.nl()
            inner, _, _ = self.expression()
            self.nl()
            close = self.expect(")")
            return inner, i, close + 1
        if c in _DIGIT_OR_MINUS:
            m = _FLOAT.match(s, i)
            if m:
                self.i = m.end()
                return A.Literal(float(m.group()), self.rng(i, m.end())), i, m.end()
            m = _INT.match(s, i)
            if not m or not m.group() or m.group() == "-":
                raise Fallback("bad number")
            self.i = m.end()
            return A.Literal(int(m.group()), self.rng(i, m.end())), i, m.end()
        if c == '"':
            return self.string()
        if c == "[":
            return self.tuple_or_for()
        if c == "{":
            return self.object_or_for()
        if c == "<":
            return self.heredoc()
        w = self.word()
        if w is None:
            raise Fallback(f"unexpected {c!r} in an expression")
        name, ws_, we = w
        if name in _LITERAL_WORDS:
            return A.Literal(_LITERAL_WORDS[name], self.rng(ws_, we)), ws_, we
        self.ws()
        if s.startswith("(", self.i):
            return self.call(name, ws_)
        if s.startswith("::", self.i):
            raise Fallback("provider function")
        return A.Variable(name, self.rng(ws_, we)), ws_, we

    def call(self, name: str, ns: int) -> tuple[A.Expr, int, int]:
        self.i += 1  # (
        self.nl()
        args: list[A.Expr] = []
        expand = False
        s = self.s
        self.ws()
        if s.startswith(")", self.i):
            self.i += 1
            return A.Call(name, args, expand, self.rng(ns, self.i)), ns, self.i
        while True:
            e, _, _ = self.expression()
            args.append(e)
            self.ws()
            if s.startswith("...", self.i):
                self.i += 3
                expand = True
                self.nl()
                break
            self.nl()
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
                self.nl()
                self.ws()
                if s.startswith(")", self.i):
                    break
                continue
            break
        close = self.expect(")")
        return A.Call(name, args, expand, self.rng(ns, close + 1)), ns, close + 1

    def _for_ahead(self) -> bool:
        """After ``[`` / ``{`` (and line breaks): does a for expression start here?"""
        m = _FOR_AHEAD.match(self.s, self.i)
        return m is not None

    def tuple_or_for(self) -> tuple[A.Expr, int, int]:
        start = self.i
        self.i += 1
        self.nl()
        self.ws()
        s = self.s
        if self._for_ahead():
            return self.for_expr(start, False)
        items: list[A.Expr] = []
        while True:
            self.ws()
            if s.startswith("]", self.i):
                break
            e, _, _ = self.expression()
            items.append(e)
            self.nl()
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
                self.nl()
                continue
            break
        close = self.expect("]")
        return A.TupleExpr(items, self.rng(start, close + 1)), start, close + 1

    def object_or_for(self) -> tuple[A.Expr, int, int]:
        start = self.i
        self.i += 1
        self.nl()
        self.ws()
        s = self.s
        if self._for_ahead():
            return self.for_expr(start, True)
        items: list[tuple[A.Expr, A.Expr]] = []
        while True:
            self.ws()
            if s.startswith("}", self.i):
                break
            m = _NAME.match(s, self.i)
            key: A.Expr
            if m and m.group() in _KEYWORDS:
                self.i = m.end()
                key = A.Literal(m.group(), self.rng(m.start(), m.end()))
            else:
                key, _, _ = self.expression()
                if isinstance(key, A.Variable):
                    key = A.Literal(key.name, key.rng)
            m = _EQ.match(s, self.i) or _COLON.match(s, self.i)
            if not m:
                raise Fallback("object element without = or :")
            self.i = m.end()
            value, _, _ = self.expression()
            items.append((key, value))
            self.nl()
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
                self.nl()
        close = self.expect("}")
        return A.ObjectExpr(items, self.rng(start, close + 1)), start, close + 1

    def for_intro(self) -> tuple[str | None, str, A.Expr]:
        self.i += 3  # for
        self.nl()
        self.ws()
        w = self.word()
        if w is None or w[0] in _LITERAL_WORDS or w[0] in _KEYWORDS:
            raise Fallback("for without a name")
        names = [w[0]]
        self.ws()
        if self.s.startswith(",", self.i):
            self.i += 1
            self.ws()
            w = self.word()
            if w is None or w[0] in _LITERAL_WORDS or w[0] in _KEYWORDS:
                raise Fallback("for without a second name")
            names.append(w[0])
            self.nl()
        self.nl()
        self.ws()
        w = self.word()
        if w is None or w[0] != "in":
            raise Fallback("for without in")
        self.nl()
        coll, _, _ = self.expression()
        self.nl()
        self.take(_COLON, "for without :")
        self.nl()
        if len(names) == 2:
            return names[0], names[1], coll
        return None, names[0], coll

    def for_expr(self, start: int, is_object: bool) -> tuple[A.Expr, int, int]:
        key_var, value_var, coll = self.for_intro()
        s = self.s
        key_expr: A.Expr | None = None
        grouping = False
        if is_object:
            key_expr, _, _ = self.expression()
            self.ws()
            if not s.startswith("=>", self.i):
                raise Fallback("for object without =>")
            self.i += 2
            self.nl()
        value, _, _ = self.expression()
        self.nl()
        self.ws()
        if is_object and s.startswith("...", self.i):
            self.i += 3
            grouping = True
            self.nl()
            self.ws()
        cond: A.Expr | None = None
        m = _NAME.match(s, self.i)
        if m and m.group() == "if":
            self.i = m.end()
            self.nl()
            cond, _, _ = self.expression()
            self.nl()
        close = self.expect("}" if is_object else "]")
        return (A.ForExpr(key_var, value_var, coll, key_expr, value, cond, grouping, self.rng(start, close + 1)),
                start, close + 1)

    # --- strings and templates ------------------------------------------------
    def quoted_parts(self) -> tuple[list[Any], int]:
        """A block label's parts: raw text (str) or an interpolation/directive tuple; and its end."""
        pieces = self.string_pieces()
        return [p[1] if p[0] == "t" else p for p in pieces], self.i

    def string_pieces(self) -> list[tuple[Any, ...]]:
        """From an opening quote to after the closing one: ("t", raw, a, b) text
        tokens, ("e", expr) interpolations and ("d", _Directive) directives."""
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
                if s.startswith("~", self.i):
                    raise Fallback("strip marker in a quoted interpolation")
                e, _, _ = self.expression()
                self.expect("}")
                out.append(("e", e))
                continue
            if c == "%" and s.startswith("%{", i):
                out.append(("d", self.directive()))
                continue
            if s.startswith("$${", i):
                m = _ESC_INTERP.match(s, i)
            elif s.startswith("%%{", i):
                m = _ESC_DIRECTIVE.match(s, i)
            else:
                m = _STRING_CHARS.match(s, i)
            if not m or m.end() == i:
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
            if w is None or w[0] in _LITERAL_WORDS or w[0] in _KEYWORDS:
                raise Fallback("bad for directive")
            names.append(w[0])
            self.ws()
            if s.startswith(",", self.i):
                self.i += 1
                self.ws()
                w = self.word()
                if w is None or w[0] in _LITERAL_WORDS or w[0] in _KEYWORDS:
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
        for p in pieces:
            if p[0] == "t":
                flat.append(A.Literal(unescape(p[1]), self.rng(p[2], p[3])))
            else:
                flat.append(p[1])
        parts = _assemble(flat)
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
            return parse_template(content, self.fn, start_line, 1, rng=rng), i, m.end()
        return A.Literal(content, rng), i, m.end()


_DIGIT_OR_MINUS = frozenset("0123456789-")


def _is_number(s: str, i: int) -> bool:
    """Does python-hcl2 lex a number literal at ``i`` (``-1`` is not one: ``-`` then ``1``)?"""
    return _FLOAT.match(s, i) is not None or _INT.match(s, i) is not None


_EQ = re.compile(r"[ \t]*=(?!=|>)")
_COLON = re.compile(r"[ \t]*:(?!:)")
_NL_OR_WS_NL = re.compile(r"[ \t\r]*(?:\n|#|//|/\*)")
_FOR_AHEAD = re.compile(r"for(?![a-zA-Z0-9_-])(?![ \t]*[=:])")


def _strip_whitespace(flat: list[Any]) -> list[Any]:
    out = list(flat)
    for i, piece in enumerate(flat):
        if not isinstance(piece, _Directive):
            continue
        if piece.left and i > 0 and isinstance(out[i - 1], A.Literal) and isinstance(out[i - 1].value, str):
            out[i - 1] = A.Literal(out[i - 1].value.rstrip(), out[i - 1].rng)
        if piece.right and i + 1 < len(out) and isinstance(out[i + 1], A.Literal) \
                and isinstance(out[i + 1].value, str):
            out[i + 1] = A.Literal(out[i + 1].value.lstrip(), out[i + 1].rng)
    return [p for p in out if not (isinstance(p, A.Literal) and p.value == "")]


def _assemble(flat: list[Any]) -> list[A.Expr]:
    """Flat template pieces -> nested TemplateIf / TemplateFor (as hcl._Builder._assemble)."""
    flat = _strip_whitespace(flat)
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


def parse(text: str, filename: str) -> A.File:
    """Parse one HCL file as ``hcl.parse_text`` would; :class:`Fallback` if it cannot be sure."""
    if not text.endswith("\n"):
        text += "\n"
    p = _Parser(text + "\n", filename)  # python-hcl2 appends a line break too
    try:
        body, _, _ = p.body(top=True)
    except (IndexError, ValueError, RecursionError, AssertionError) as exc:
        raise Fallback(str(exc)) from None
    return A.File(filename, body, hashlib.sha256(text.encode()).hexdigest())
