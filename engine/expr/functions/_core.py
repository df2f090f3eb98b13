"""The function-call contract and the argument helpers every function uses.

A function receives plain values (see :mod:`mlform.engine.values`) and either
returns a plain value or raises :class:`FunctionError`. Terraform converts each
argument to its parameter's type before calling; the ``arg_*`` helpers here do
the same conversions (a number where a string is wanted becomes its decimal
text, ``"12"`` where a number is wanted becomes 12) and word their errors the
way Terraform does, naming the parameter.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from mlform.engine.expr.functions._numbers import (
    NumberParseError,
    is_number,
    normalize_number,
    number_to_string,
    parse_number,
)
from mlform.engine.expr.functions._types import convert_to_string
from mlform.engine.values import type_name


class FunctionError(Exception):
    """Bad arguments to a function; the message is for a person.

    ``arg_index`` (0-based) points at the offending argument so the caller can
    underline it, or is ``None`` when the problem is the call as a whole.
    """

    def __init__(self, message: str, arg_index: int | None = None):
        super().__init__(message)
        self.message = message
        self.arg_index = arg_index


@dataclass
class FunctionContext:
    """What a call may need from the outside world.

    ``base_dir`` is where relative paths given to ``file()``-like functions
    resolve. ``render_template(text, vars, filename)`` renders a template for
    ``templatefile()``; the evaluator provides it.
    """

    base_dir: pathlib.Path
    render_template: Callable[[str, dict[str, Any], str], Any] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """One function: its implementation, arity and documentation.

    ``impl(ctx, *args)`` does the work. ``max_args`` is ``None`` for variadic
    functions. Unless ``handles_unknown`` is true, :func:`call_function`
    returns ``UNKNOWN`` without calling ``impl`` when any argument contains an
    unknown value. ``params`` names the parameters as Terraform does (the last
    one of a variadic function names the repeated argument); error messages
    and ``docs/functions.md`` use them.
    """

    name: str
    impl: Callable[..., Any]
    min_args: int
    max_args: int | None
    handles_unknown: bool = False
    description: str = ""
    params: tuple[str, ...] = ()

    def param_name(self, index: int) -> str:
        """The name of the parameter that receives argument ``index``."""
        if not self.params:
            return f"argument {index + 1}"
        return self.params[min(index, len(self.params) - 1)]


# ---------------------------------------------------------------------------
# Errors worded as Terraform words them.


def arg_error(index: int, param: str, detail: str) -> FunctionError:
    """``Invalid value for "param" parameter: detail`` pointing at ``index``."""
    return FunctionError(f'Invalid value for "{param}" parameter: {detail}', index)


def fail(index: int, param: str, detail: str) -> NoReturn:
    """Raise :func:`arg_error`."""
    raise arg_error(index, param, detail)


def hcl_type(v: Any) -> str:
    """The name Terraform uses for a value's type in conversion errors."""
    name = type_name(v)
    return {"list": "tuple"}.get(name, name)


def not_null(v: Any, index: int, param: str) -> Any:
    """``v``, or an error when it is null (most parameters reject null)."""
    if v is None:
        fail(index, param, "argument must not be null.")
    return v


# ---------------------------------------------------------------------------
# Conversions to parameter types.


def arg_string(v: Any, index: int, param: str) -> str:
    """A string parameter: strings, numbers and bools are accepted."""
    not_null(v, index, param)
    s = convert_to_string(v)
    if s is None:
        fail(index, param, "string required.")
    return s


def convert_to_number(v: Any) -> int | float | None:
    """``v`` as a number the way Terraform converts it, or ``None``."""
    if is_number(v):
        return v  # type: ignore[no-any-return]
    if isinstance(v, str):
        try:
            return parse_number(v)
        except NumberParseError:
            return None
    return None


def arg_number(v: Any, index: int, param: str) -> int | float:
    """A number parameter: numbers and numeric strings are accepted."""
    not_null(v, index, param)
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        fail(index, param, "number required.")
    n = convert_to_number(v)
    if n is None:
        fail(index, param, "a number is required.")
    return normalize_number(n)


def arg_int(v: Any, index: int, param: str) -> int:
    """A whole-number parameter (an index, an offset)."""
    n = arg_number(v, index, param)
    if isinstance(n, float):
        fail(index, param, f"value must be a whole number, got {number_to_string(n)}.")
    return n


def arg_list(v: Any, index: int, param: str) -> list[Any]:
    """A list/tuple/set parameter."""
    not_null(v, index, param)
    if not isinstance(v, (list, tuple)):
        fail(index, param, f"a list is required, got {hcl_type(v)}.")
    return list(v)


def arg_map(v: Any, index: int, param: str) -> dict[str, Any]:
    """A map/object parameter."""
    not_null(v, index, param)
    if not isinstance(v, dict):
        fail(index, param, "must have map or object type.")
    return v
