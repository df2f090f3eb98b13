"""Numbers as HCL sees them, represented as Python ``int`` and ``float``.

Terraform numbers are arbitrary-precision decimals; ours are exact integers or
64-bit floats. To come as close as possible:

* a float with no fractional part becomes an ``int`` (``ceil(1.2)`` is ``2``,
  not ``2.0``), taking the decimal the float was written as (``1e20`` becomes
  ``10**20``, not the nearest binary value's digits);
* a float prints as the shortest decimal that reads back as the same float,
  never in exponent form (``tostring(1e-7)`` is ``"0.0000001"``), as
  Terraform prints its numbers.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

# Go's big.ParseFloat in base 10, which is what tonumber() uses.
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INFINITY = re.compile(r"([+-]?)(?:Inf|inf)")

# Beyond this many digits an integer is kept as a float rather than expanded
# (``1e999999`` would otherwise build a million-digit int).
_MAX_INT_DIGITS = 1000

# Terraform's numbers are 512-bit binary floats (cty.ParseNumberVal).
_TERRAFORM_PRECISION = 512


class NumberParseError(ValueError):
    """A string that is not a decimal number."""


def is_number(v: Any) -> bool:
    """True for ``int`` and ``float`` values, but not ``bool``."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def normalize_number(x: int | float) -> int | float:
    """``x`` with integral floats turned into ints (``2.0`` -> ``2``)."""
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        d = Decimal(repr(x))
        if d.adjusted() < _MAX_INT_DIGITS:
            return int(d)
    return x


def parse_number(s: str) -> int | float:
    """Parse a decimal number as Terraform's ``tonumber`` does.

    Accepts an optional sign, digits with an optional fraction and exponent,
    and ``Inf``; rejects surrounding spaces, hex, underscores and ``NaN``.
    """
    if _DECIMAL.fullmatch(s):
        d = Decimal(s)
        if d == d.to_integral_value() and d.adjusted() < _MAX_INT_DIGITS:
            return int(d)
        return normalize_number(float(s))
    m = _INFINITY.fullmatch(s)
    if m:
        return -math.inf if m.group(1) == "-" else math.inf
    raise NumberParseError(s)


def number_to_string(x: int | float) -> str:
    """The text Terraform gives a number: no exponent, no trailing ``.0``."""
    if isinstance(x, int):
        return str(x)
    if math.isinf(x):
        return "-Inf" if x < 0 else "+Inf"
    if math.isnan(x):
        return "NaN"
    if x.is_integer():
        return format(Decimal(repr(x)).to_integral_value(), "f")
    return format(Decimal(repr(x)), "f")


def _terraform_value(x: float) -> tuple[int, int]:
    """The number Terraform would hold for the literal ``repr(x)``, as ``m * 2**e``.

    Terraform parses number literals into 512-bit binary floats, so a value
    such as ``0.15`` sits slightly above or below the decimal it was written
    as; digits beyond the shortest form (``format("%.20f", 0.1)``) and
    rounding of exact ties depend on that value, so we rebuild it.
    """
    q = Fraction(Decimal(repr(abs(x))))
    e = q.numerator.bit_length() - q.denominator.bit_length()
    if Fraction(2) ** e > q:
        e -= 1
    shift = _TERRAFORM_PRECISION - 1 - e
    num = q.numerator << shift if shift > 0 else q.numerator
    den = q.denominator << -shift if shift < 0 else q.denominator
    m, r = divmod(num, den)
    if 2 * r > den or (2 * r == den and m % 2 == 1):
        m += 1
    return m, -shift


def decimal_digits(x: int | float, shortest: bool) -> tuple[str, int]:
    """The digits of ``abs(x)`` as ``(mantissa, exponent)``: ``0.mantissa * 10**exponent``.

    The mantissa has no leading or trailing zeros; zero is ``("", 0)``.
    ``shortest`` takes the shortest decimal that reads back as ``x``
    (``0.1``); otherwise the exact digits of the number Terraform would hold
    for that decimal (see :func:`_terraform_value`).
    """
    if isinstance(x, int):
        s = str(abs(x))
        if s == "0":
            return "", 0
        return s.rstrip("0"), len(s)
    if x == 0:
        return "", 0
    if shortest:
        d = Decimal(repr(abs(x)))
        _, digit_tuple, exponent = d.as_tuple()
        assert isinstance(exponent, int)
        digits = "".join(map(str, digit_tuple)).lstrip("0")
        return digits.rstrip("0"), len(digits) + exponent
    m, e = _terraform_value(x)
    if e >= 0:
        s = str(m << e)
        return s.rstrip("0"), len(s)
    s = str(m * 5 ** -e)  # m * 2**e == m * 5**-e / 10**-e
    return s.rstrip("0").lstrip("0"), len(s) + e
