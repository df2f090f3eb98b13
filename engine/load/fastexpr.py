"""Expressions for the hand-written parser: operators, terms, collections, ``for``.

Mirrors python-hcl2's ``expression`` rule, and the ranges its tree gives
each node (a binary operation's trailing line break belongs to it).
"""

from __future__ import annotations

import re
from typing import Any

from mlform.engine.diagnostics import SourceRange
from mlform.engine.load import ast as A
from mlform.engine.load.fastlex import COLON, EQ, KEYWORDS, LITERAL_WORDS, NAME, NL_OR_WS_NL, Fallback, ends_line
from mlform.engine.load.fasttemplate import TemplateParser

_FLOAT = re.compile(r"(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)\.[0-9]+(?:[eE][+-]?[0-9]+)?"
                    r"|(?:(?:-[0-9])?[0-9]+|(?:-[0-9])+)[eE][+-]?[0-9]+")
_INT = re.compile(r"(?:-[0-9])?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
# operator -> precedence level (higher binds tighter)
_LEVEL = {"||": 0, "&&": 1, "==": 2, "!=": 2, "<=": 3, ">=": 3, "<": 3, ">": 3,
          "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}
# after blanks, longest spelling first; "//" and "/*" start comments
_OPERATOR = re.compile(r"[ \t\r]*(\|\||&&|==|!=|<=|>=|<|>|\+|-|\*|/(?![/*])|%)")
_DIGIT_OR_MINUS = frozenset("0123456789-")
_FOR_AHEAD = re.compile(r"for(?![a-zA-Z0-9_-])(?![ \t]*[=:])")


def _is_number(s: str, i: int) -> bool:
    """Does python-hcl2 lex a number literal at ``i`` (``-1`` is not one: ``-`` then ``1``)?"""
    return _FLOAT.match(s, i) is not None or _INT.match(s, i) is not None


class ExpressionParser(TemplateParser):
    """``expression`` and everything under it."""

    def expression(self) -> tuple[A.Expr, int, int]:
        """``expression``: (node, start, end) of its python-hcl2 tree."""
        cond, cs, ce = self.binary(0)
        self.ws()
        if self.s[self.i:self.i + 1] != "?":
            return cond, cs, ce
        self.i += 1
        breaks = self.nl() is not None
        then, _, _ = self.expression()
        breaks = self.nl() is not None or breaks
        self.take(COLON, "conditional without :")
        breaks = self.nl() is not None or breaks
        if breaks and self.depth == 0:
            raise Fallback("a line break in a conditional outside brackets")
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
                if NL_OR_WS_NL.match(s, self.i) is not None:
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
            if self.nl() is not None and self.depth == 0:
                raise Fallback("a line break after an operator outside brackets")
            right, _, end = self.binary(level + 1)
            left = A.Binary(op, left, right, SourceRange(self.fn, left.rng.start, right.rng.end))
            if NL_OR_WS_NL.match(s, self.i) is not None:
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
            operand, _, te = self.unary()  # unary operators nest: !!x, - -x
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
                self.depth += 1
                self.nl()
                key, _, _ = self.expression()
                self.nl()
                self.depth -= 1
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
                self.depth += 1
                self.nl()
                key, _, _ = self.expression()
                self.nl()
                self.depth -= 1
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
            self.depth += 1
            self.nl()
            inner, _, _ = self.expression()
            self.nl()
            self.depth -= 1
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
        if c == "[" or c == "{":
            self.depth += 1
            r = self.tuple_or_for() if c == "[" else self.object_or_for()
            self.depth -= 1
            return r
        if c == "<":
            return self.heredoc()
        w = self.word()
        if w is None:
            raise Fallback(f"unexpected {c!r} in an expression")
        name, ws_, we = w
        if name in LITERAL_WORDS:
            return A.Literal(LITERAL_WORDS[name], self.rng(ws_, we)), ws_, we
        if s.startswith("::", self.i):  # a namespaced function: core::upper, provider::NAME::fn
            while s.startswith("::", self.i):
                part = NAME.match(s, self.i + 2)
                if part is None:
                    raise Fallback("bad function namespace")
                self.i = part.end()
                name += "::" + part.group()
            if not s.startswith("(", self.i):
                raise Fallback("namespaced name without a call")
            return self.call(name, ws_)
        self.ws()
        if s.startswith("(", self.i):
            return self.call(name, ws_)
        return A.Variable(name, self.rng(ws_, we)), ws_, we

    def call(self, name: str, ns: int) -> tuple[A.Expr, int, int]:
        self.i += 1  # (
        self.depth += 1
        self.nl()
        args: list[A.Expr] = []
        expand = False
        s = self.s
        self.ws()
        if s.startswith(")", self.i):
            self.i += 1
            self.depth -= 1
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
        self.depth -= 1
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
            m = NAME.match(s, self.i)
            key: A.Expr
            if m and m.group() in KEYWORDS:
                self.i = m.end()
                key = A.Literal(m.group(), self.rng(m.start(), m.end()))
            else:
                key, _, _ = self.expression()
                if isinstance(key, A.Variable):
                    key = A.Literal(key.name, key.rng)
            m = EQ.match(s, self.i) or COLON.match(s, self.i)
            if not m:
                raise Fallback("object element without = or :")
            self.i = m.end()
            value, _, _ = self.expression()
            items.append((key, value))
            broke = ends_line(s, self.i) or self.nl() is not None
            self.ws()
            if s.startswith(",", self.i):
                if broke:
                    raise Fallback("a comma at the start of a line")
                self.i += 1
                broke = self.nl() is not None
                self.ws()
            elif not broke and not s.startswith("}", self.i):
                raise Fallback("object elements without a separator")
        close = self.expect("}")
        return A.ObjectExpr(items, self.rng(start, close + 1)), start, close + 1

    def for_intro(self) -> tuple[str | None, str, A.Expr]:
        self.i += 3  # for
        self.nl()
        self.ws()
        w = self.word()
        if w is None or w[0] in LITERAL_WORDS or w[0] in KEYWORDS:
            raise Fallback("for without a name")
        names = [w[0]]
        self.ws()
        if self.s.startswith(",", self.i):
            self.i += 1
            self.ws()
            w = self.word()
            if w is None or w[0] in LITERAL_WORDS or w[0] in KEYWORDS:
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
        self.take(COLON, "for without :")
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
            self.nl()
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
        m = NAME.match(s, self.i)
        if m and m.group() == "if":
            self.i = m.end()
            self.nl()
            cond, _, _ = self.expression()
            self.nl()
        close = self.expect("}" if is_object else "]")
        return (A.ForExpr(key_var, value_var, coll, key_expr, value, cond, grouping, self.rng(start, close + 1)),
                start, close + 1)
