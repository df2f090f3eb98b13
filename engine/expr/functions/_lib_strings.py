"""String functions: format, join, split, lower, upper, replace, trimspace, substr."""

from __future__ import annotations

from typing import Any

from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
    arg_int,
    arg_string,
    fail,
)
from mlform.engine.expr.functions._format import format_values
from mlform.engine.expr.functions._regex import RegexError, compile_go, replace_all
from mlform.engine.expr.functions._text import (
    go_lower,
    go_trimspace,
    go_upper,
    graphemes,
    nfc,
)
from mlform.engine.expr.functions._types import convert_to_string


def _format(ctx: FunctionContext, fmt: Any, *args: Any) -> str:
    return format_values(arg_string(fmt, 0, "format"), list(args))


def _join(ctx: FunctionContext, sep: Any, *lists: Any) -> str:
    separator = arg_string(sep, 0, "separator")
    if not lists:
        raise FunctionError("at least one list is required.")
    parts: list[str] = []
    for li, lst in enumerate(lists, start=1):
        if lst is None:
            fail(li, "lists", "argument must not be null.")
        if not isinstance(lst, (list, tuple)):
            fail(li, "lists", "list of string required.")
        for ei, elem in enumerate(lst):
            if elem is None:
                where = f"element {ei} of list {li}" if len(lists) > 1 else f"element {ei}"
                fail(li, "lists", f"{where} is null; cannot concatenate null values.")
            s = convert_to_string(elem)
            if s is None:
                fail(li, "lists", f"element {ei}: string required.")
            parts.append(s)
    return separator.join(parts)


def _split(ctx: FunctionContext, sep: Any, s: Any) -> list[str]:
    separator = arg_string(sep, 0, "separator")
    text = arg_string(s, 1, "str")
    if separator == "":
        return list(text)  # Go splits into code points, not grapheme clusters
    return text.split(separator)


def _lower(ctx: FunctionContext, s: Any) -> str:
    return go_lower(arg_string(s, 0, "str"))


def _upper(ctx: FunctionContext, s: Any) -> str:
    return go_upper(arg_string(s, 0, "str"))


def _replace(ctx: FunctionContext, s: Any, substr: Any, replacement: Any) -> str:
    text = arg_string(s, 0, "str")
    old = arg_string(substr, 1, "substr")
    new = arg_string(replacement, 2, "replace")
    if len(old) > 1 and old.startswith("/") and old.endswith("/"):
        try:
            rx = compile_go(old[1:-1])
        except RegexError as exc:
            fail(1, "substr", f"{exc}. Patterns between slashes use RE2 syntax "
                              "(https://github.com/google/re2/wiki/Syntax).")
        return replace_all(rx, text, new)
    return text.replace(old, new)


def _trimspace(ctx: FunctionContext, s: Any) -> str:
    return go_trimspace(arg_string(s, 0, "str"))


def _substr(ctx: FunctionContext, s: Any, offset: Any, length: Any) -> str:
    chars = graphemes(nfc(arg_string(s, 0, "str")))
    start = arg_int(offset, 1, "offset")
    count = arg_int(length, 2, "length")
    if start < 0:
        start += len(chars)  # may stay negative: then we start at the beginning
    elif count == 0:
        return ""
    if start > 0:
        chars = chars[start:]
    if count <= 0:
        # A negative length means "to the end"; so does 0 after a negative
        # offset, a quirk of Terraform's implementation that we keep.
        return "".join(chars)
    return "".join(chars[:count])


SPECS = [
    FunctionSpec("format", _format, 1, None, description=(
        "Formats values printf-style: %v %#v %t %s %q %d %b %o %x %X %e %E %f %g %G %%, "
        "flags `0 - + space #`, width, precision and `%[n]` argument indexes."),
        params=("format", "args")),
    FunctionSpec("join", _join, 1, None, description=(
        "Joins the elements of one or more lists with a separator; numbers and bools become strings."),
        params=("separator", "lists")),
    FunctionSpec("split", _split, 2, 2, description="Splits a string at every occurrence of a separator.",
                 params=("separator", "str")),
    FunctionSpec("lower", _lower, 1, 1, description="Lower-cases every letter (one character for one).",
                 params=("str",)),
    FunctionSpec("upper", _upper, 1, 1, description="Upper-cases every letter (one character for one).",
                 params=("str",)),
    FunctionSpec("replace", _replace, 3, 3, description=(
        "Replaces every occurrence of a substring; `/re/` is an RE2 regular expression and the "
        "replacement may refer to groups as `$1` or `${name}`."),
        params=("str", "substr", "replace")),
    FunctionSpec("trimspace", _trimspace, 1, 1, description="Removes leading and trailing whitespace.",
                 params=("str",)),
    FunctionSpec("substr", _substr, 3, 3, description=(
        "Extracts `length` characters from `offset` (negative offsets count from the end; "
        "length -1 means to the end)."),
        params=("str", "offset", "length")),
]
