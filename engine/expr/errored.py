"""Errors of evaluation, and the value of what already failed.

One mistake, one error: a local or resource instance whose own evaluation or
planning failed (and was reported) holds :data:`ERRORED`. Reading it raises
:class:`UpstreamError`, an :class:`EvalError` with no diagnostics, so every
expression that depends on it fails quietly instead of adding an
"Unsupported attribute" for each reference to what was already reported.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError


class EvalError(DiagnosticsError):
    """An expression could not be evaluated; carries one diagnostic."""


class Errored:
    """The value of something whose evaluation already failed and was reported.

    Use the :data:`ERRORED` singleton. It never reaches a provider or a plan:
    reading it raises :class:`UpstreamError`.
    """

    _instance: "Errored | None" = None

    def __new__(cls) -> "Errored":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(errored)"

    def __bool__(self) -> bool:  # pragma: no cover - guards misuse
        raise TypeError("an errored value has no truth value")


ERRORED = Errored()


class UpstreamError(EvalError):
    """An expression read :data:`ERRORED`: it fails because of an error already
    reported elsewhere, and carries no diagnostic of its own."""

    def __init__(self) -> None:
        super().__init__(Diagnostics())


def contains_errored(v: Any) -> bool:
    """True when ``v`` or anything inside it is :data:`ERRORED`."""
    if v is ERRORED:
        return True
    if isinstance(v, dict):
        return any(contains_errored(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(contains_errored(x) for x in v)
    return False


def checked(v: Any) -> Any:
    """``v``, unless it is :data:`ERRORED`: then raise :class:`UpstreamError`."""
    if v is ERRORED:
        raise UpstreamError()
    return v
