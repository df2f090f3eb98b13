"""RE2's character classes as code point ranges, written as Python classes.

The translator in ``_re2`` reads every class (``[a-z]``, ``[[:alpha:]]``,
``\\d``, ``\\pL``) as a list of ``(lo, hi)`` code point ranges, so a class
inside a class and a negated one (``[^\\D]``, ``[[:^alpha:]]``) combine by
plain range arithmetic, and writes the result out with :func:`py_class`.
``\\d``, ``\\w`` and ``\\s`` are ASCII-only, as in Go; ``\\p{..}`` knows
Unicode general categories (``L``, ``Lu``), not scripts.
"""

from __future__ import annotations

import sys
import unicodedata
from functools import lru_cache

# (lo, hi) code point ranges.
Ranges = list[tuple[int, int]]

_DIGIT: Ranges = [(0x30, 0x39)]
_WORD: Ranges = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
_SPACE: Ranges = [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)]
POSIX: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": _DIGIT,
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": _WORD,
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}
PERL = {"d": _DIGIT, "w": _WORD, "s": _SPACE}


def negate(ranges: Ranges) -> Ranges:
    """The code points not in ``ranges``, as sorted ranges."""
    out: Ranges = []
    nxt = 0
    for lo, hi in sorted(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = max(nxt, hi + 1)
    if nxt <= sys.maxunicode:
        out.append((nxt, sys.maxunicode))
    return out


@lru_cache(maxsize=1)
def _all_category_ranges() -> dict[str, tuple[tuple[int, int], ...]]:
    """Code point ranges of every Unicode general category, in one pass."""
    found: dict[str, list[tuple[int, int]]] = {}
    for cp in range(sys.maxunicode + 1):
        ranges = found.setdefault(unicodedata.category(chr(cp)), [])
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return {cat: tuple(r) for cat, r in found.items()}


def category_ranges(name: str) -> Ranges:
    """Code point ranges of a general category (``Lu``) or a group of them (``L``)."""
    ranges = [r for cat, rs in _all_category_ranges().items() if cat == name or cat[0] == name for r in rs]
    return sorted(ranges)


CATEGORIES = frozenset(
    ["C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs"]
)


def char(cp: int) -> str:
    """One code point, escaped for use anywhere in a Python pattern."""
    ch = chr(cp)
    if ch.isalnum() and ch.isascii():
        return ch
    if cp < 0x10000:
        return f"\\u{cp:04x}"
    return f"\\U{cp:08x}"


def class_body(ranges: Ranges) -> str:
    """The inside of a Python ``[...]`` class matching ``ranges``."""
    return "".join(char(lo) if lo == hi else f"{char(lo)}-{char(hi)}" for lo, hi in ranges)


def py_class(ranges: Ranges, negated: bool = False) -> str:
    """A Python class matching ``ranges`` (or everything else); empty matches nothing."""
    if not ranges:
        return "[^\\s\\S]" if not negated else "[\\s\\S]"
    return "[" + ("^" if negated else "") + class_body(ranges) + "]"
