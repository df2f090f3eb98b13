"""Text the way Terraform handles it.

* Strings are NFC-normalized (cty normalizes every string it creates).
* "Characters" are grapheme clusters (``length("👍🏽")`` is 1): an
  implementation of the Unicode text segmentation rules (UAX #29) from
  :mod:`unicodedata` properties. Extended_Pictographic is approximated by the
  emoji blocks, which is what the ZWJ-sequence rule needs in practice.
* ``upper``/``lower`` use Go's simple (one-to-one) case mapping, so ``ß``
  stays ``ß`` where Python's ``str.upper`` would give ``SS``.
* Whitespace is Go's ``unicode.IsSpace`` set.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# ---------------------------------------------------------------------------
# NFC


def nfc(s: str) -> str:
    """``s`` in Unicode normalization form C."""
    if s.isascii() or unicodedata.is_normalized("NFC", s):
        return s
    return unicodedata.normalize("NFC", s)


# ---------------------------------------------------------------------------
# Grapheme clusters (UAX #29, extended)

_CR, _LF, _CONTROL, _EXTEND, _ZWJ, _RI, _PREPEND, _SPACING = range(8)
_L, _V, _T, _LV, _LVT, _PICT, _OTHER = range(8, 15)

# Characters whose grapheme property is not implied by their general category.
_OTHER_GRAPHEME_EXTEND = frozenset(
    [0x09BE, 0x09D7, 0x0B3E, 0x0B57, 0x0BBE, 0x0BD7, 0x0CC2, 0x0CD5, 0x0CD6,
     0x0D3E, 0x0D57, 0x0DCF, 0x0DDF, 0x1B35, 0x200C, 0x302E, 0x302F, 0xFF9E,
     0xFF9F, 0x1D165, 0x1D16E, 0x1D16F, 0x1D170, 0x1D171, 0x1D172]
)
_PREPENDS = frozenset(
    [0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605, 0x06DD, 0x070F, 0x0890,
     0x0891, 0x08E2, 0x0D4E, 0x110BD, 0x110CD, 0x111C2, 0x111C3, 0x1193F,
     0x11941, 0x11A3A, 0x11A84, 0x11A85, 0x11A86, 0x11A87, 0x11A88, 0x11A89,
     0x11D46]
)
_PICTOGRAPHIC_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049),
    (0x2122, 0x2122), (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA),
    (0x231A, 0x231B), (0x2328, 0x2328), (0x2388, 0x2388), (0x23CF, 0x23CF),
    (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
    (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x27BF),
    (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297),
    (0x3299, 0x3299), (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F),
    (0x1F16C, 0x1F171), (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A),
    (0x1F1AD, 0x1F1E5), (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F),
    (0x1F232, 0x1F23A), (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D),
    (0x1F546, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF),
    (0x1F80C, 0x1F80F), (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F),
    (0x1F8AE, 0x1F8FF), (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
)


@lru_cache(maxsize=4096)
def _gcb(ch: str) -> int:
    """The Grapheme_Cluster_Break property of one character."""
    cp = ord(ch)
    if cp == 0x0D:
        return _CR
    if cp == 0x0A:
        return _LF
    if cp == 0x200D:
        return _ZWJ
    if 0x1F1E6 <= cp <= 0x1F1FF:
        return _RI
    if 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F or cp in _OTHER_GRAPHEME_EXTEND:
        return _EXTEND
    if cp in _PREPENDS:
        return _PREPEND
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return _L
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return _V
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return _T
    if 0xAC00 <= cp <= 0xD7A3:
        return _LV if (cp - 0xAC00) % 28 == 0 else _LVT
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me"):
        return _EXTEND
    if cat == "Mc" or cp in (0x0E33, 0x0EB3):
        return _SPACING
    if cat in ("Cc", "Zl", "Zp", "Cf"):
        return _CONTROL
    for lo, hi in _PICTOGRAPHIC_RANGES:
        if lo <= cp <= hi:
            return _PICT
    return _OTHER


def _joins(prev: int, cur: int, pict_zwj: bool, odd_ri: bool) -> bool:
    """Whether there is no cluster boundary between two characters."""
    if prev == _CR and cur == _LF:
        return True
    if prev in (_CONTROL, _CR, _LF) or cur in (_CONTROL, _CR, _LF):
        return False
    if prev == _L and cur in (_L, _V, _LV, _LVT):
        return True
    if prev in (_LV, _V) and cur in (_V, _T):
        return True
    if prev in (_LVT, _T) and cur == _T:
        return True
    if cur in (_EXTEND, _ZWJ, _SPACING) or prev == _PREPEND:
        return True
    if prev == _ZWJ and cur == _PICT and pict_zwj:
        return True
    if prev == _RI and cur == _RI:
        return odd_ri
    return False


def graphemes(s: str) -> list[str]:
    """``s`` split into user-perceived characters (extended grapheme clusters)."""
    if s.isascii() and "\r" not in s:
        return list(s)
    out: list[str] = []
    start = 0
    prev = -1
    pict_seq = False  # inside ExtPict Extend* (so far)
    pict_zwj = False  # ExtPict Extend* ZWJ just seen
    ri_run = 0
    for i, ch in enumerate(s):
        cur = _gcb(ch)
        if prev >= 0 and not _joins(prev, cur, pict_zwj, ri_run % 2 == 1):
            out.append(s[start:i])
            start = i
        pict_zwj = pict_seq and cur == _ZWJ
        pict_seq = cur == _PICT or (pict_seq and cur == _EXTEND)
        ri_run = ri_run + 1 if cur == _RI else 0
        prev = cur
    if s:
        out.append(s[start:])
    return out


def grapheme_len(s: str) -> int:
    """The number of user-perceived characters in ``s``."""
    if s.isascii():
        return len(s) - s.count("\r\n")
    return len(graphemes(s))


# ---------------------------------------------------------------------------
# Case mapping and whitespace as Go does them

# Where Go's one-to-one mapping exists but Python's full mapping is longer.
_GO_UPPER = {0x1FB3: 0x1FBC, 0x1FC3: 0x1FCC, 0x1FF3: 0x1FFC}
_GO_UPPER.update({base + i: base + 8 + i for base in (0x1F80, 0x1F90, 0x1FA0) for i in range(8)})
_GO_LOWER = {0x0130: 0x0069}


@lru_cache(maxsize=4096)
def _upper_char(ch: str) -> str:
    cp = ord(ch)
    if cp in _GO_UPPER:
        return chr(_GO_UPPER[cp])
    u = ch.upper()
    return u if len(u) == 1 else ch


@lru_cache(maxsize=4096)
def _lower_char(ch: str) -> str:
    cp = ord(ch)
    if cp in _GO_LOWER:
        return chr(_GO_LOWER[cp])
    lo = ch.lower()
    return lo if len(lo) == 1 else ch


def go_upper(s: str) -> str:
    """Go's ``strings.ToUpper``: one character in, one character out."""
    if s.isascii():
        return s.upper()
    return nfc("".join(_upper_char(c) for c in s))


def go_lower(s: str) -> str:
    """Go's ``strings.ToLower``: one character in, one character out."""
    if s.isascii():
        return s.lower()
    return nfc("".join(_lower_char(c) for c in s))


GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def go_trimspace(s: str) -> str:
    """Go's ``strings.TrimSpace`` (Python's ``strip`` also trims ``\\x1c``-``\\x1f``)."""
    return s.strip(GO_SPACE)


# ---------------------------------------------------------------------------
# Quoting


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``, used where Terraform's messages quote text with ``%q``."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif cp < 0x80:
            out.append(f"\\x{cp:02x}")
        elif cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            out.append(f"\\U{cp:08x}")
    out.append('"')
    return "".join(out)


def go_quote_rune(ch: str) -> str:
    """Go's ``%q`` of a single character: ``'x'``."""
    inner = go_quote(ch)[1:-1]
    if inner == '\\"':
        inner = '"'
    elif inner == "'":
        inner = "\\'"
    return f"'{inner}'"


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}
