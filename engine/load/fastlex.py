"""The hand-written parser's scanner: python-hcl2's terminals and a cursor over the text.

:class:`Scanner` holds the text, the offset being read and the memoised
offset -> position tables; the expression, template and body parsers
(``fastexpr``, ``fasttemplate``, ``fastparse``) are layered on it. Whatever
the parser is not sure of raises :class:`Fallback`, and python-hcl2 parses
the file instead.
"""

from __future__ import annotations

import re
from bisect import bisect_right

from mlform.engine.diagnostics import Pos, SourceRange
from mlform.engine.load import ast as A
from mlform.engine.load.fastpos import make_pos, make_range


class Fallback(Exception):
    """The text needs python-hcl2 (a syntax error, or syntax this parser leaves to it)."""


_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
_HEX = re.compile(r"[0-9a-fA-F]*")


class EscapeError(ValueError):
    """An invalid escape sequence at ``offset`` (``length`` characters) of the string's text."""

    def __init__(self, offset: int, length: int, detail: str) -> None:
        super().__init__(detail)
        self.offset, self.length, self.detail = offset, length, detail


def unescape(s: str) -> str:
    """Quoted-string escapes (``\\n``, ``\\"``, ``\\uNNNN``, ``\\UNNNNNNNN``) and ``$${``/``%%{``.

    Anything else after a backslash, too few hex digits or a code point
    UTF-8 cannot encode raises :class:`EscapeError`, with HCL's wording.
    """
    if "\\" not in s and "$${" not in s and "%%{" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1:i + 2]
            if n in _ESCAPES and n:
                out.append(_ESCAPES[n])
                i += 2
                continue
            if n in ("u", "U") and n:
                want = 4 if n == "u" else 8
                digits = _HEX.match(s, i + 2, i + 2 + want).group()  # type: ignore[union-attr]
                if len(digits) < want:
                    raise EscapeError(i, 2 + len(digits), f"The \\{n} escape sequence must be followed by "
                                      f"{'four' if want == 4 else 'eight'} hexadecimal digits.")
                cp = int(digits, 16)
                if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                    raise EscapeError(i, 2 + want, f"Cannot encode character U+{cp:04x} in UTF-8.")
                out.append(chr(cp))
                i += 2 + want
                continue
            raise EscapeError(i, 1 + len(n), f'The symbol "{n}" is not a valid escape sequence selector.')
        if s.startswith("$${", i) or s.startswith("%%{", i):
            out.append(s[i + 1:i + 3])
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


# python-hcl2's terminals (hcl2.lark), as regular expressions; those shared
# by the expression, template and body parsers are public
# (with mlform's changes, see hclgrammar: a /* comment */ without a line break is a blank,
# identifiers are Unicode)
_WS = re.compile(r"(?:[ \t\r]+|/\*(?:[^*\n]|\*(?!/))*\*/)+")
_NL = re.compile(r"\n[ \t]*|#.*\n|//.*\n|/\*(?:[^*\n]|\*(?!/))*\n(?:.|\n)*?\*/")
NAME = re.compile(r"[^\W\d][\w-]*")
LITERAL_WORDS = {"true": True, "false": False, "null": None}
KEYWORDS = frozenset(("in", "for", "if", "for_each", "else", "endif", "endfor"))
# a line break before one of these would be merged into the operator by python-hcl2's post-lexer
_MERGES_AFTER_NL = frozenset("=!<>*/%&|+?")
EQ = re.compile(r"[ \t]*=(?!=|>)")
COLON = re.compile(r"[ \t]*:(?!:)")
NL_OR_WS_NL = re.compile(r"[ \t\r]*(?:\n|#|//|/\*)")


def ends_line(s: str, end: int) -> bool:
    """Does the text before ``end`` end with a line break (and blanks)? A heredoc's and a binary
    operation's trailing line break (with the next line's indentation) are part of their node."""
    k = end
    while k > 0 and s[k - 1] in " \t":
        k -= 1
    return k > 0 and s[k - 1] == "\n"


class Scanner:
    """A cursor over one file's text, with python-hcl2's lexing rules."""

    def __init__(self, text: str, filename: str) -> None:
        self.s = text
        self.n = len(text)
        self.fn = filename
        self.i = 0
        self.depth = 0  # brackets around the expression being read: line breaks are free inside
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
        m = NAME.match(self.s, self.i)
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
        if NL_OR_WS_NL.match(s, i) is None:
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
        if s[j:j + 1] in _MERGES_AFTER_NL and s[j:j + 1] and not s.startswith("=>", j):
            raise Fallback("operator after a line break")

    def expression(self) -> tuple[A.Expr, int, int]:
        """``expression`` from here: (node, start, end); defined by the expression parser."""
        raise NotImplementedError
