"""Go (RE2) regular expression syntax, translated to Python's :mod:`re`.

Terraform's ``replace(s, "/re/", r)`` uses Go's ``regexp``. The two syntaxes
mostly agree; :func:`translate` rewrites the parts that differ and refuses
what RE2 refuses, so a pattern matches here as it does in Terraform:

* ``$`` without ``(?m)`` matches only at the very end (Python's also matches
  before a final newline); ``\\d``, ``\\w``, ``\\s``, ``\\b`` are ASCII-only;
* flags may appear mid-pattern (``a(?i)b``) and include ``U`` (ungreedy);
* ``[[:alpha:]]`` classes, ``\\Q...\\E``, ``\\x{263a}``, ``\\pL``/``\\p{Lu}``
  (general categories; script names such as ``\\p{Greek}`` are refused);
* lookaround, backreferences, possessive quantifiers and atomic groups are
  errors, as in RE2;
* named groups become plain groups and their names are returned separately,
  because Go allows repeated names and names starting with a digit.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from mlform.engine.expr.functions._re2_classes import (
    CATEGORIES,
    PERL,
    POSIX,
    Ranges,
    category_ranges,
    char,
    class_body,
    negate,
    py_class,
)

_SIMPLE_ESCAPES = {"a": 0x07, "f": 0x0C, "t": 0x09, "n": 0x0A, "r": 0x0D, "v": 0x0B}
_WORD_CLASS = "[0-9A-Za-z_]"
_ASCII_B = f"(?:(?<={_WORD_CLASS})(?!{_WORD_CLASS})|(?<!{_WORD_CLASS})(?={_WORD_CLASS}))"
_ASCII_NOT_B = f"(?:(?<={_WORD_CLASS})(?={_WORD_CLASS})|(?<!{_WORD_CLASS})(?!{_WORD_CLASS}))"
_REPEAT = re.compile(r"\{(\d+)(,(\d*))?\}")


class RegexError(ValueError):
    """A pattern RE2 would not accept (or one we cannot translate)."""


@dataclass
class _Group:
    flags: set[str]
    wrappers: list[str] = field(default_factory=list)  # open "(?i:" made for mid-pattern flags


class _Translator:
    def __init__(self, pattern: str):
        self.p = pattern
        self.i = 0
        self.out: list[str] = []
        self.stack: list[_Group] = [_Group(set())]
        self.groups = 0
        self.names: dict[str, int] = {}

    # -- helpers ---------------------------------------------------------
    def error(self, what: str) -> RegexError:
        return RegexError(f"error parsing regexp: {what}")

    @property
    def flags(self) -> set[str]:
        return self.stack[-1].flags

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.p[j] if j < len(self.p) else ""

    # -- top level -------------------------------------------------------
    def translate(self) -> str:
        can_repeat = False
        while self.i < len(self.p):
            ch = self.p[self.i]
            if ch == "\\":
                piece, can_repeat = self.escape()
                self.out.append(piece)
            elif ch == "[":
                self.out.append(self.char_class())
                can_repeat = True
            elif ch == "(":
                self.open_group()
                can_repeat = False
            elif ch == ")":
                self.close_group()
                can_repeat = True
            elif ch == "|":
                self.i += 1
                group = self.stack[-1]
                self.out.append(")" * len(group.wrappers) + "|" + "".join(group.wrappers))
                can_repeat = False
            elif ch in "*+?{":
                if ch == "{" and not _REPEAT.match(self.p, self.i):
                    self.out.append("\\{")
                    self.i += 1
                    can_repeat = True
                    continue
                if not can_repeat:
                    raise self.error(f"missing argument to repetition operator: `{ch}`")
                self.quantifier()
                can_repeat = False
            elif ch == "$":
                self.i += 1
                self.out.append("(?m:$)" if "m" in self.flags else "\\Z")
                can_repeat = True
            elif ch == "^":
                self.i += 1
                self.out.append("(?m:^)" if "m" in self.flags else "\\A")
                can_repeat = True
            elif ch == ".":
                self.i += 1
                self.out.append("(?s:.)" if "s" in self.flags else "[^\\n]")
                can_repeat = True
            else:
                self.i += 1
                self.out.append(self.literal(ord(ch)))
                can_repeat = True
        if len(self.stack) > 1:
            raise self.error(f"missing closing ): `{self.p}`")
        self.out.append(")" * len(self.stack[0].wrappers))
        return "".join(self.out)

    def literal(self, cp: int) -> str:
        if "i" in self.flags:
            return f"(?i:{char(cp)})"
        return char(cp)

    def quantifier(self) -> None:
        start = self.i
        m = _REPEAT.match(self.p, self.i)
        if m:
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else -1)
            if lo > 1000 or hi > 1000 or (hi >= 0 and hi < lo):
                raise self.error(f"invalid repeat count: `{m.group(0)}`")
            self.i = m.end()
        else:
            self.i += 1
        lazy = self.peek() == "?"
        if lazy:
            self.i += 1
        q = self.p[start:self.i]
        if self.peek() in ("*", "+", "?") or (self.peek() == "{" and _REPEAT.match(self.p, self.i)):
            raise self.error(f"invalid nested repetition operator: `{q}{self.peek()}`")
        if "U" in self.flags:
            lazy = not lazy
        base = q[:-1] if q.endswith("?") and len(q) > 1 else q
        self.out.append(base + ("?" if lazy else ""))

    # -- groups ----------------------------------------------------------
    def open_group(self) -> None:
        self.i += 1
        parent = set(self.flags)
        if self.peek() != "?":
            self.stack.append(_Group(parent))
            self.groups += 1
            self.out.append("(")
            return
        self.i += 1
        if self.peek() == "P" and self.peek(1) == "<" or self.peek() == "<" and self.peek(1) not in ("=", "!"):
            self.i += 2 if self.peek() == "P" else 1
            end = self.p.find(">", self.i)
            name = self.p[self.i:end] if end >= 0 else ""
            if end < 0 or not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise self.error(f"invalid named capture: `{self.p[self.i - 3:end + 1]}`")
            self.i = end + 1
            self.stack.append(_Group(parent))
            # Go allows repeated names and names starting with a digit; Python
            # allows neither, so groups stay anonymous and we keep the names.
            self.groups += 1
            self.names.setdefault(name, self.groups)
            self.out.append("(")
            return
        m = re.compile(r"([imsU]*)(?:-([imsU]*))?([:)])").match(self.p, self.i)
        if not m or m.group(2) == "" or (m.group(3) == ")" and not m.group(1) and m.group(2) is None):
            raise self.error(f"invalid or unsupported Perl syntax: `(?{self.p[self.i:self.i + 1]}`")
        on, off = set(m.group(1)), set(m.group(2) or "")
        new = (parent | on) - off
        self.i = m.end()
        py = self._py_flags(on, off)
        if m.group(3) == ":":
            self.stack.append(_Group(new))
            self.out.append(f"(?{py}:" if py else "(?:")
        else:
            # (?i) alone: the flags hold to the end of the enclosing group.
            group = self.stack[-1]
            group.flags = new
            if py:
                group.wrappers.append(f"(?{py}:")
                self.out.append(f"(?{py}:")

    @staticmethod
    def _py_flags(on: set[str], off: set[str]) -> str:
        # m, s and U are handled by translating ^ $ . and quantifiers directly.
        on_py, off_py = "".join(sorted(on & {"i"})), "".join(sorted(off & {"i"}))
        return on_py + (f"-{off_py}" if off_py else "")

    def close_group(self) -> None:
        if len(self.stack) == 1:
            raise self.error(f"unexpected ): `{self.p}`")
        self.i += 1
        group = self.stack.pop()
        self.out.append(")" * len(group.wrappers) + ")")

    # -- escapes ---------------------------------------------------------
    def escape_code_point(self) -> int | None:
        """A code point escape at ``self.i`` (after the backslash), or None."""
        c = self.peek()
        if c in _SIMPLE_ESCAPES:
            self.i += 1
            return _SIMPLE_ESCAPES[c]
        if c == "x":
            self.i += 1
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                digits = self.p[self.i + 1:end] if end >= 0 else ""
                if not re.fullmatch(r"[0-9A-Fa-f]{1,8}", digits) or int(digits, 16) > sys.maxunicode:
                    raise self.error("invalid escape sequence: `\\x{`")
                self.i = end + 1
                return int(digits, 16)
            digits = self.p[self.i:self.i + 2]
            if not re.fullmatch(r"[0-9A-Fa-f]{2}", digits):
                raise self.error(f"invalid escape sequence: `\\x{digits}`")
            self.i += 2
            return int(digits, 16)
        if c == "0" or ("1" <= c <= "7" and "0" <= self.peek(1) <= "7"):
            m = re.compile(r"[0-7]{1,3}").match(self.p, self.i)
            assert m
            self.i = m.end()
            return int(m.group(0), 8)
        if c and "1" <= c <= "9":
            raise self.error(f"invalid escape sequence: `\\{c}`")
        if c and not c.isalnum() and c.isascii():
            self.i += 1
            return ord(c)
        return None

    def class_escape(self) -> tuple[Ranges, bool] | None:
        """``\\d``-like escapes: (ranges, negated), or None."""
        c = self.peek()
        if c.lower() in PERL:
            self.i += 1
            return PERL[c.lower()], c.isupper()
        if c in ("p", "P"):
            self.i += 1
            negated = c == "P"
            if self.peek() == "{":
                end = self.p.find("}", self.i)
                name = self.p[self.i + 1:end] if end >= 0 else ""
                self.i = end + 1 if end >= 0 else len(self.p)
            else:
                name = self.peek()
                self.i += 1
            if name.startswith("^"):
                negated, name = not negated, name[1:]
            if name == "Any":
                return [(0, sys.maxunicode)], negated
            if name not in CATEGORIES:
                raise self.error(
                    f"invalid character class range: `\\{c}{{{name}}}` (mlform supports Unicode "
                    "general categories such as \\pL or \\p{Lu}, not script names)")
            return category_ranges(name), negated
        return None

    def escape(self) -> tuple[str, bool]:
        """A backslash sequence outside a class: (python text, can repeat)."""
        self.i += 1
        c = self.peek()
        if not c:
            raise self.error("trailing backslash at end of expression: ``")
        if c == "Q":
            end = self.p.find("\\E", self.i + 1)
            text = self.p[self.i + 1:] if end < 0 else self.p[self.i + 1:end]
            self.i = len(self.p) if end < 0 else end + 2
            # A quantifier after \E applies to the last character only, as in Go.
            return "".join(self.literal(ord(t)) for t in text), bool(text)
        if c in "AzbB":
            self.i += 1
            return {"A": "\\A", "z": "\\Z", "b": _ASCII_B, "B": _ASCII_NOT_B}[c], False
        if c == "C":
            self.i += 1
            return "(?s:.)", True
        cls = self.class_escape()
        if cls is not None:
            ranges, negated = cls
            return py_class(ranges, negated), True
        cp = self.escape_code_point()
        if cp is None:
            raise self.error(f"invalid escape sequence: `\\{c}`")
        return self.literal(cp), True

    # -- classes ---------------------------------------------------------
    def char_class(self) -> str:
        start = self.i
        self.i += 1
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: Ranges = []
        first = True
        while True:
            c = self.peek()
            if not c:
                raise self.error(f"missing closing ]: `{self.p[start:]}`")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[" and self.peek(1) == ":":
                m = re.compile(r"\[:(\^?)([a-z]+):\]").match(self.p, self.i)
                if m and m.group(2) in POSIX:
                    self.i = m.end()
                    posix = POSIX[m.group(2)]
                    ranges += negate(posix) if m.group(1) else posix
                    continue
            if c == "\\":
                self.i += 1
                cls = self.class_escape()
                if cls is not None:
                    cranges, cneg = cls
                    ranges += negate(cranges) if cneg else cranges
                    continue
                lo = self.escape_code_point()
                if lo is None:
                    raise self.error(f"invalid escape sequence: `\\{self.peek()}`")
            else:
                lo = ord(c)
                self.i += 1
            hi = lo
            if self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.i += 1
                c2 = self.peek()
                if c2 == "\\":
                    self.i += 1
                    h = self.escape_code_point()
                    if h is None:
                        raise self.error("invalid character class range")
                    hi = h
                else:
                    hi = ord(c2)
                    self.i += 1
                if hi < lo:
                    raise self.error(f"invalid character class range: `{self.p[start:self.i]}`")
            ranges.append((lo, hi))
        body = class_body(sorted(ranges))
        if "i" in self.flags:
            return f"(?i:[{'^' if negated else ''}{body}])"
        return py_class(sorted(ranges), negated)


def translate(pattern: str) -> tuple[str, dict[str, int]]:
    """A Python pattern equivalent to Go ``pattern``, and its group names.

    The names map to the first group of each name. Raises :class:`RegexError`.
    """
    tr = _Translator(pattern)
    return tr.translate(), dict(tr.names)
