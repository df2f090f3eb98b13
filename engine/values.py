"""Values as the engine sees them.

Config values are plain JSON-like Python values (None, bool, int, float, str,
list, dict). A value that will only be known after apply is the singleton
:data:`UNKNOWN`; it propagates through expressions and is shown in plans as
``(known after apply)``.
"""

from __future__ import annotations

from typing import Any


class Unknown:
    """A value known only after apply. Use the :data:`UNKNOWN` singleton."""

    _instance: "Unknown | None" = None

    def __new__(cls) -> "Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"

    def __reduce__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:  # pragma: no cover - guards misuse
        raise TypeError("an unknown value has no truth value yet")


UNKNOWN = Unknown()


def is_unknown(v: Any) -> bool:
    return v is UNKNOWN


def contains_unknown(v: Any) -> bool:
    """True when ``v`` or anything inside it is unknown."""
    if v is UNKNOWN:
        return True
    if isinstance(v, dict):
        return any(contains_unknown(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(contains_unknown(x) for x in v)
    return False


def unknown_paths(v: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Paths of every unknown leaf in ``v``."""
    if v is UNKNOWN:
        return [prefix]
    out: list[tuple[str | int, ...]] = []
    if isinstance(v, dict):
        for k, x in v.items():
            out += unknown_paths(x, prefix + (k,))
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            out += unknown_paths(x, prefix + (i,))
    return out


def after_unknown_tree(v: Any) -> Any:
    """Terraform's ``after_unknown``: same shape, ``True`` where unknown."""
    if v is UNKNOWN:
        return True
    if isinstance(v, dict):
        d = {k: after_unknown_tree(x) for k, x in v.items()}
        return {k: x for k, x in d.items() if x is not False and x != {} and x != []} or {}
    if isinstance(v, (list, tuple)):
        return [after_unknown_tree(x) if contains_unknown(x) else False for x in v]
    return False


def strip_unknown(v: Any) -> Any:
    """``v`` with unknown leaves replaced by ``None`` (for JSON ``after``)."""
    if v is UNKNOWN:
        return None
    if isinstance(v, dict):
        return {k: strip_unknown(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [strip_unknown(x) for x in v]
    return v


def redact(value: Any, paths: list[list[str | int]], placeholder: Any = None) -> Any:
    """A copy of ``value`` (unknowns as ``None``) with each sensitive path set to ``placeholder``."""
    if value is None:
        return None
    v = strip_unknown(value)  # builds new containers, so the caller's value is untouched
    for p in paths:
        cur = v
        for step in p[:-1]:
            cur = cur.get(step) if isinstance(cur, dict) else None
            if cur is None:
                break
        if isinstance(cur, dict) and p and p[-1] in cur:
            cur[p[-1]] = placeholder
    return v


def type_name(v: Any) -> str:
    """The HCL type name of a value, for diagnostics."""
    if v is UNKNOWN:
        return "unknown"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


class InstanceMap(dict):  # type: ignore[type-arg]
    """The value of a ``for_each`` resource: instance key -> attributes.

    A plain dict to every function; splat expressions iterate its values.
    """
