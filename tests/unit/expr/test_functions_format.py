"""format(): every expected value below is what Terraform v1.11.4's
``terraform console`` printed for the same call."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


def fmt(*args: Any) -> Any:
    return call_function("format", list(args), FunctionContext(base_dir=pathlib.Path(".")))


CASES: list[tuple[list[Any], str]] = [
    # %v: strings as they are, numbers shortest (%g-like), everything else as JSON
    (["%v", 1234567], "1.234567e+06"),
    (["%v", 1e20], "1e+20"),
    (["%v", 0.1], "0.1"),
    (["%v", 100000], "100000"),
    (["%v", 0.00001], "1e-05"),
    (["%v", 12345.678], "12345.678"),
    (["%v", -0.5], "-0.5"),
    (["%v|%v|%v|%#v|%#v", True, [1, "a"], {"b": [True], "a": 1}, "x", 5], 'true|[1,"a"]|{"a":1,"b":[true]}|"x"|5'),
    (["%05v|%-5v|%5v", -1, 1, True], "000-1|1    | true"),
    (["%5.2v|%.2v|%-5.1s|", 3.14159, "abc", "abc"], "3.14159|abc|a    |"),
    # integers
    (["%d|%5d|%-5d|%05d|%+d|% d", 42, 42, 42, -42, 5, 5], "42|   42|42   |-0042|+5| 5"),
    (["%x|%X|%o|%b|%#x|%#o|%#b|%#X", 255, 255, 8, 5, 255, 8, 5, 255], "ff|FF|10|101|0xff|010|0b101|0XFF"),
    (["%-05d|%0-5d|", 3, 3], "3    |3    |"),
    (["%.3d|%8.3d|%08.3d|%.0d|%5.0d|", 7, 7, 7, 0, 0], "007|     007|     007|||"),
    (["%x", -255], "-ff"),
    (["%d", 10**30], "1000000000000000000000000000000"),
    (["%d", "12"], "12"),
    (["%b", 1.0], "1"),
    # floats
    (["%e|%E|%.2e|%+.3e|% .3E", 123456.789, 1.5, 1234.5678, 12345, -12345],
     "1.234568e+05|1.500000E+00|1.23e+03|+1.234e+04|-1.234E+04"),
    (["%e", 0], "0.000000e+00"),
    (["%f|%.2f|%.0f|%.0f|%.1f", 1.5, 2.675, 0.5, 1.5, 0.25], "1.500000|2.67|0|2|0.2"),
    (["%8.3f|%-8.3f|%08.3f|%+08.2f|%-08.2f|% 8.2f", 3.14159, 3.14159, -3.14159, 3.1, 3.14159, 3.1],
     "   3.142|3.142   |-003.142|+0003.10|00003.14|    3.10"),
    (["%.1f|%.1f|%.1f", 0.05, 0.15, 0.25], "0.1|0.2|0.2"),
    (["%.20f", 0.1], "0.10000000000000000000"),
    (["%f", "1e3"], "1000.000000"),
    (["%f", 10**30], "1000000000000000000000000000000.000000"),
    (["%05.2f", 3.14159], "03.14"),
    (["%.f", 3.7], "4"),
    (["%g|%g|%g|%g|%g|%G", 0, 1e100, 123456789, 100000, 0.0001, 1e-5], "0|1e+100|1.23456789e+08|100000|0.0001|1E-05"),
    (["%.3g|%.10g|%.1g", 100, 0.333333333333, 0.05], "100|0.3333333333|0.05"),
    (["%10.4g|%-10.3G|%010g", 3.14159265, 0.000012345, 42.5], "     3.142|1.23E-05  |00000042.5"),
    (["%.15g|%.17g", 0.1, 0.1], "0.1|0.1"),
    (["%5.1f%%", 99.44], " 99.4%"),
    (["%.2f", 1234.5], "1234.50"),
    (["%10.2f|", 2.345], "      2.34|"),
    (["%.2f|%.3f", 1.005, 1.0005], "1.00|1.000"),
    # strings, widths and precisions in characters (grapheme clusters)
    (["%s|%5s|%-5s|%.2s|%05s|%.0s", "abc", "ab", "ab", "abc", "ab", "abc"], "abc|   ab|ab   |ab|000ab|abc"),
    (["%s|%s|%s", 1.50, True, 1e20], "1.5|true|100000000000000000000"),
    (["%q|%5q|%q", 'a"b\n<', "a", "é\u0001"], '"a\\"b\\n\\u003c"|  "a"|"é\\u0001"'),
    (["%t|%t|%5t", True, "false", True], "true|false|true"),
    (["%s\U0001F44D\U0001F3FD%5s|%-4s|", "é", "\U0001F44D\U0001F3FD", "e\u0301"],
     "é\U0001F44D\U0001F3FD    \U0001F44D\U0001F3FD|\u00e9   |"),
    (["%.1s|%3.2s|", "\U0001F44D\U0001F3FDab", "\U0001F44D\U0001F3FDab"], "\U0001F44D\U0001F3FD| \U0001F44D\U0001F3FDa|"),
    (["%+s|% s|%+v", "a", "b", 3], "a|b|3"),
    # argument indexes and literal percent signs
    (["%[2]s %s %[1]s", "a", "b", "c"], "b c a"),
    (["%[3]s %[1]s", "a", "b", "c"], "c a"),
    (["%%|%%%d", 3], "%|%3"),
    (["100%% %s", "x"], "100% x"),
]


@pytest.mark.parametrize(("args", "expected"), CASES)
def test_format_matches_terraform(args: list[Any], expected: str) -> None:
    assert fmt(*args) == expected


@pytest.mark.parametrize(
    ("args", "message", "arg_index"),
    [
        (["%s %s", "a"], r'not enough arguments for "%s" at 3: need index 2 but have 1 total', None),
        (["%[2]d %d", 1, 2], r'not enough arguments for "%d" at 6: need index 3 but have 2 total', None),
        (["%s"], r'not enough arguments for "%s" at 0: need index 1 but have 0 total', None),
        (["%s", "a", "b"], r'"args" parameter: too many arguments; only 1 used by format string', 2),
        (["%[1]s %[1]s", "a", "b"], r"too many arguments; only 1 used by format string", 2),
        (["abc", 1], r'"args" parameter: too many arguments; no verbs in format string', 1),
        (["%z", 1], r"""unsupported format verb 'z' in "%z" at offset 0""", None),
        (["é%z", 1], r"""unsupported format verb 'z' in "%z" at offset 2""", None),  # offsets count bytes
        (["%", 1], r"invalid format string starting at offset 1", None),
        (["%5", 1], r"invalid format string starting at offset 2", None),
        (["%é", 1], r"unrecognized format character 'é' at offset 1", None),
        (["%[0]s", "a"], r"unrecognized format character '0' at offset 2", None),
        (["%*d", 5, 3], r"unrecognized format character '\*' at offset 1", None),
        (["%d", 1.5], r'unsupported value for "%d" at 0: an integer is required', None),
        (["%d", "abc"], r'unsupported value for "%d" at 0: a number is required', None),
        (["%d", True], r'unsupported value for "%d" at 0: number required', None),
        (["%s", [1]], r'unsupported value for "%s" at 0: string required', None),
        (["%t", 1], r'unsupported value for "%t" at 0: bool required', None),
        (["%s", None], r'unsupported value for "%s" at 0: null value cannot be formatted', None),
    ],
)
def test_format_errors_match_terraform(args: list[Any], message: str, arg_index: int | None) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        fmt(*args)
    assert exc.value.arg_index == arg_index


def test_null_formats_as_null_with_v() -> None:
    # cty: %v and %#v print null as JSON null; Terraform's console cannot show this
    assert fmt("%v|%#v", None, None) == "null|null"
