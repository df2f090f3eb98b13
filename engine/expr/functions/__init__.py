"""The HCL function library: Terraform's functions with Terraform's results.

The evaluator calls :func:`call_function` with evaluated argument values and
a :class:`FunctionContext`; every function is described by a
:class:`FunctionSpec` in :data:`FUNCTIONS`. ``try`` and ``can`` are not here:
they are special forms of the evaluator.

Exception tree::

    Exception
    └── FunctionError    bad arguments, unknown function, wrong arity;
                         ``arg_index`` points at the offending argument

Modules: ``_core`` (contract, argument conversion), ``_numbers``, ``_text``,
``_types`` (HCL type unification), ``_json``, ``_yaml``, ``_format``,
``_re2``, ``_re2_classes`` and ``_regex`` (Go regular expressions: the
translator, its character classes, and the regex functions), and
``_lib_*`` (the functions, by theme).
``docs/functions.md`` lists every function and where mlform differs from
Terraform.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.diagnostics import did_you_mean
from mlform.engine.expr.functions import (
    _lib_collections,
    _lib_convert,
    _lib_encoding,
    _lib_files,
    _lib_strings,
)
from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
)
from mlform.engine.expr.functions._numbers import normalize_number
from mlform.engine.expr.functions._text import nfc
from mlform.engine.values import UNKNOWN, contains_unknown

__all__ = ["FUNCTIONS", "FunctionContext", "FunctionError", "FunctionSpec", "call_function"]

FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for module in (_lib_strings, _lib_collections, _lib_convert, _lib_encoding, _lib_files)
    for spec in module.SPECS
}

# Special forms the evaluator handles; suggested for typos but never called here.
_SPECIAL_FORMS = ("try", "can")


def _unknown_function(name: str) -> FunctionError:
    hint = did_you_mean(name, sorted(FUNCTIONS) + list(_SPECIAL_FORMS))
    if not hint:
        hint = " The functions mlform provides are listed in docs/functions.md."
    return FunctionError(f'There is no function named "{name}".{hint}')


def _arity_error(spec: FunctionSpec, count: int) -> FunctionError | None:
    if count < spec.min_args:
        if spec.max_args == spec.min_args:
            expects = f"expects {spec.min_args} argument(s)"
        else:
            expects = f"expects at least {spec.min_args} argument(s)"
        return FunctionError(
            f'Not enough function arguments: function "{spec.name}" {expects}. '
            f'Missing value for "{spec.param_name(count)}".')
    if spec.max_args is not None and count > spec.max_args:
        if spec.max_args == spec.min_args:
            expects = f"expects only {spec.max_args} argument(s)"
        else:
            expects = f"expects at most {spec.max_args} argument(s)"
        return FunctionError(
            f'Too many function arguments: function "{spec.name}" {expects}; remove the extra ones.',
            spec.max_args)
    return None


def _canonical(v: Any) -> Any:
    """``v`` as Terraform would hold it: strings NFC-normalized, integral numbers as ints."""
    if isinstance(v, str):
        return nfc(v)
    if isinstance(v, float):
        return normalize_number(v)
    if isinstance(v, list):
        return [_canonical(x) for x in v]
    if isinstance(v, dict):
        return {nfc(k): _canonical(x) for k, x in v.items()}
    return v


def call_function(name: str, args: list[Any], ctx: FunctionContext) -> Any:
    """Call function ``name`` with ``args``; raises :class:`FunctionError`.

    Checks the number of arguments, returns ``UNKNOWN`` when an argument
    contains an unknown value (unless the function handles those itself),
    and returns the result as Terraform would hold it: every string
    NFC-normalized and every integral number an ``int``.
    """
    spec = FUNCTIONS.get(name)
    if spec is None:
        raise _unknown_function(name)
    problem = _arity_error(spec, len(args))
    if problem is not None:
        raise problem
    if not spec.handles_unknown and any(contains_unknown(a) for a in args):
        return UNKNOWN
    return _canonical(spec.impl(ctx, *args))
