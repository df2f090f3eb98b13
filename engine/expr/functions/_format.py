"""``format()``: Terraform's printf.

The verbs, flags and error texts follow cty's ``format`` function, which hands
numbers to Go's ``fmt`` with ``math/big`` values; this module reimplements the
parts of those it uses. Widths and precisions of strings count grapheme
clusters. Quirks kept on purpose because Terraform has them: ``%-05d`` pads
on the right (minus wins for integers) but ``%-08.2f`` pads with zeros on the
left (zero wins for floats); ``%05v`` pads numbers with zeros before the sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlform.engine.expr.functions._core import (
    FunctionError,
    arg_error,
    convert_to_number,
)
from mlform.engine.expr.functions._json import encode, encode_string
from mlform.engine.expr.functions._numbers import (
    decimal_digits,
    is_number,
    normalize_number,
)
from mlform.engine.expr.functions._text import (
    go_quote,
    go_quote_rune,
    grapheme_len,
    graphemes,
)
from mlform.engine.expr.functions._types import convert_to_string


@dataclass
class _Verb:
    raw: str = ""
    offset: int = 0
    arg_num: int = 1
    mode: str = ""
    zero: bool = False
    sharp: bool = False
    plus: bool = False
    minus: bool = False
    space: bool = False
    width: int = -1
    prec: int = -1

    @property
    def has_width(self) -> bool:
        return self.width >= 0

    @property
    def has_prec(self) -> bool:
        return self.prec >= 0


_MAX_WIDTH = 1_000_000


def _byte_offset(s: str, i: int) -> int:
    return len(s[:i].encode("utf-8", "surrogatepass"))


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"


def format_values(fmt: str, args: list[Any]) -> str:
    """Format ``args`` with ``fmt``; raises :class:`FunctionError`.

    Argument indexes in errors count ``fmt`` as argument 0, as the call does.
    """
    out: list[str] = []
    i, n = 0, len(fmt)
    next_arg = 1
    max_used = 0

    def eof() -> FunctionError:
        return FunctionError(f"invalid format string starting at offset {_byte_offset(fmt, n)}")

    def bad_char(j: int) -> FunctionError:
        return FunctionError(
            f"unrecognized format character {go_quote_rune(fmt[j])} at offset {_byte_offset(fmt, j)}")

    while i < n:
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == "%":
            out.append("%")
            i += 2
            continue
        start = i
        i += 1
        verb = _Verb(arg_num=next_arg)
        while i < n and fmt[i] in "0#-+ ":
            flag = fmt[i]
            verb.zero |= flag == "0"
            verb.sharp |= flag == "#"
            verb.minus |= flag == "-"
            verb.plus |= flag == "+"
            verb.space |= flag == " "
            i += 1
        if i < n and fmt[i] == "[":
            i += 1
            if i >= n:
                raise eof()
            if not ("1" <= fmt[i] <= "9"):
                raise bad_char(i)
            num = 0
            while i < n and _is_digit(fmt[i]):
                num = num * 10 + int(fmt[i])
                i += 1
            if i >= n:
                raise eof()
            if fmt[i] != "]":
                raise bad_char(i)
            i += 1
            verb.arg_num = num
        if i < n and "1" <= fmt[i] <= "9":
            verb.width = 0
            while i < n and _is_digit(fmt[i]):
                verb.width = verb.width * 10 + int(fmt[i])
                i += 1
        if i < n and fmt[i] == ".":
            i += 1
            verb.prec = 0
            while i < n and _is_digit(fmt[i]):
                verb.prec = verb.prec * 10 + int(fmt[i])
                i += 1
        if max(verb.width or 0, verb.prec or 0) > _MAX_WIDTH:  # as Go's fmt: no gigabyte of padding
            raise FunctionError(f"the width or precision of the verb starting at offset {_byte_offset(fmt, start)} "
                                f"is over {_MAX_WIDTH:,}")
        if i >= n:
            raise eof()
        if not (fmt[i].isascii() and fmt[i].isalpha()):
            raise bad_char(i)
        verb.mode = fmt[i]
        i += 1
        verb.raw = fmt[start:i]
        verb.offset = _byte_offset(fmt, start)
        if verb.arg_num > len(args):
            raise FunctionError(
                f"not enough arguments for {go_quote(verb.raw)} at {verb.offset}: "
                f"need index {verb.arg_num} but have {len(args)} total")
        out.append(_format_one(verb, args[verb.arg_num - 1]))
        max_used = max(max_used, verb.arg_num)
        next_arg = verb.arg_num + 1

    if max_used < len(args):
        detail = f"only {max_used} used by format string" if max_used else "no verbs in format string"
        raise arg_error(max_used + 1, "args", f"too many arguments; {detail}.")
    return "".join(out)


def _unsupported(verb: _Verb, detail: str) -> FunctionError:
    return FunctionError(f"unsupported value for {go_quote(verb.raw)} at {verb.offset}: {detail}")


def _format_one(verb: _Verb, arg: Any) -> str:
    if verb.mode != "v" and arg is None:
        raise _unsupported(verb, "null value cannot be formatted")
    mode = verb.mode
    if mode == "v":
        if not verb.sharp and isinstance(arg, str):
            return _pad(verb, arg)
        if not verb.sharp and is_number(arg):
            return _pad(verb, float_text(normalize_number(arg), "g", -1))
        return _pad(verb, encode(arg))
    if mode == "t":
        if isinstance(arg, bool):
            return "true" if arg else "false"
        if arg in ("true", "false"):
            return str(arg)
        raise _unsupported(verb, "bool required")
    if mode in "bdoxXeEfgG":
        if not (is_number(arg) or isinstance(arg, str)):
            raise _unsupported(verb, "number required")
        num = convert_to_number(arg)
        if num is None:
            raise _unsupported(verb, "a number is required")
        num = normalize_number(num)
        if mode in "bdoxX":
            if isinstance(num, float) and not (math.isfinite(num) and num.is_integer()):
                raise _unsupported(verb, "an integer is required")
            return _format_integer(verb, int(num))
        return _format_float(verb, num)
    if mode in "sq":
        s = convert_to_string(arg)
        if s is None:
            raise _unsupported(verb, "string required")
        if verb.prec > 0:
            s = "".join(graphemes(s)[: verb.prec])
        return _pad(verb, s if mode == "s" else encode_string(s))
    raise FunctionError(
        f"unsupported format verb {go_quote_rune(mode)} in {go_quote(verb.raw)} at offset {verb.offset}")


def _pad(verb: _Verb, s: str) -> str:
    if not verb.has_width:
        return s
    missing = verb.width - grapheme_len(s)
    if missing <= 0:
        return s
    pad = ("0" if verb.zero else " ") * missing
    return s + pad if verb.minus else pad + s


# ---------------------------------------------------------------------------
# Integers: Go's big.Int Format.

_BASES = {"b": 2, "d": 10, "o": 8, "x": 16, "X": 16}
_PREFIXES = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}


def _to_base(n: int, base: int) -> str:
    if base == 10:
        return str(n)
    return {2: format(n, "b"), 8: format(n, "o"), 16: format(n, "x")}[base]


def _format_integer(verb: _Verb, n: int) -> str:
    digits = _to_base(abs(n), _BASES[verb.mode])
    if verb.mode == "X":
        digits = digits.upper()
    sign = "-" if n < 0 else "+" if verb.plus else " " if verb.space else ""
    prefix = _PREFIXES.get(verb.mode, "") if verb.sharp else ""
    zeros = left = right = 0
    if verb.has_prec:
        if len(digits) < verb.prec:
            zeros = verb.prec - len(digits)
        elif digits == "0" and verb.prec == 0:
            return ""  # Go prints nothing at all for a zero with precision 0
    length = len(sign) + len(prefix) + zeros + len(digits)
    if verb.has_width and length < verb.width:
        extra = verb.width - length
        if verb.minus:
            right = extra
        elif verb.zero and not verb.has_prec:
            zeros = extra
        else:
            left = extra
    return " " * left + sign + prefix + "0" * zeros + digits + " " * right


# ---------------------------------------------------------------------------
# Floats: Go's big.Float Text and Format.


def _round(mant: str, exp: int, n: int) -> tuple[str, int]:
    """Round the decimal ``0.mant * 10**exp`` to ``n`` digits, ties to even."""
    if n < 0 or n >= len(mant):
        return mant, exp
    if mant[n] == "5" and n + 1 == len(mant):
        up = n > 0 and int(mant[n - 1]) % 2 == 1
    else:
        up = mant[n] >= "5"
    if not up:
        mant = mant[:n].rstrip("0")
        return mant, exp if mant else 0
    while n > 0 and mant[n - 1] == "9":
        n -= 1
    if n == 0:
        return "1", exp + 1
    return mant[: n - 1] + chr(ord(mant[n - 1]) + 1), exp


def _fmt_e(mode: str, prec: int, mant: str, exp: int) -> str:
    out = mant[0] if mant else "0"
    if prec > 0:
        frac = mant[1: prec + 1]
        out += "." + frac + "0" * (prec - len(frac))
    e = exp - 1 if mant else 0
    return out + mode + ("-" if e < 0 else "+") + f"{abs(e):02d}"


def _fmt_f(prec: int, mant: str, exp: int) -> str:
    if exp > 0:
        out = mant[:exp] + "0" * max(exp - len(mant), 0)
    else:
        out = "0"
    if prec > 0:
        out += "." + "".join(mant[exp + k] if 0 <= exp + k < len(mant) else "0" for k in range(prec))
    return out


def float_text(x: int | float, mode: str, prec: int) -> str:
    """Go's ``big.Float.Text(mode, prec)``; ``prec < 0`` means shortest."""
    if isinstance(x, float) and math.isinf(x):
        return "-Inf" if x < 0 else "+Inf"
    sign = "-" if x < 0 else ""
    shortest = prec < 0
    mant, exp = decimal_digits(x, shortest)
    if shortest:
        prec = {"e": len(mant) - 1, "f": max(len(mant) - exp, 0)}.get(mode.lower(), len(mant))
    elif mode in "eE":
        mant, exp = _round(mant, exp, 1 + prec)
    elif mode == "f":
        mant, exp = _round(mant, exp, exp + prec)
    else:
        prec = prec or 1
        mant, exp = _round(mant, exp, prec)
    if mode in "eE":
        return sign + _fmt_e(mode, prec, mant, exp)
    if mode == "f":
        return sign + _fmt_f(prec, mant, exp)
    eprec = prec
    if eprec > len(mant) and len(mant) >= exp:
        eprec = len(mant)
    if shortest:
        eprec = 6
    if exp - 1 < -4 or exp - 1 >= eprec:
        return sign + _fmt_e("e" if mode == "g" else "E", min(prec, len(mant)) - 1, mant, exp)
    if prec > exp:
        prec = len(mant)
    return sign + _fmt_f(max(prec - exp, 0), mant, exp)


def _format_float(verb: _Verb, x: int | float) -> str:
    prec = verb.prec
    if not verb.has_prec and verb.mode in "eEf":
        prec = 6
    text = float_text(x, verb.mode, prec)
    is_inf = isinstance(x, float) and math.isinf(x)
    if text[0] == "-":
        sign, text = "-", text[1:]
    elif text[0] == "+":
        sign, text = (" " if verb.space else "+"), text[1:]
    else:
        sign = "+" if verb.plus else " " if verb.space else ""
    padding = max(verb.width - len(sign) - len(text), 0) if verb.has_width else 0
    if verb.zero and not is_inf:
        return sign + "0" * padding + text
    if verb.minus:
        return sign + text + " " * padding
    return " " * padding + sign + text
