"""Compare recorded and planned attributes."""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.values import UNKNOWN

Path_ = tuple[str | int, ...]


def changed_paths(before: dict[str, Any], after: dict[str, Any], prefix: Path_ = ()) -> list[Path_]:
    """Top-most paths whose values differ (an unknown in ``after`` counts as a change)."""
    out: list[Path_] = []
    for k in sorted(set(before) | set(after)):
        b, a = before.get(k), after.get(k)
        if a is UNKNOWN:
            # Providers keep computed values known when nothing changes, so
            # an unknown is always something the apply will recompute.
            out.append(prefix + (k,))
            continue
        if isinstance(b, dict) and isinstance(a, dict):
            out += changed_paths(b, a, prefix + (k,))
        elif b != a or type(b) is not type(a) and not (_is_number(a) and _is_number(b)):
            out.append(prefix + (k,))
    return out


def _is_number(v: Any) -> bool:
    # bool is an int to Python (True == 1), but true -> 1 is a change.
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def forces_replacement(changed: list[Path_], kind: str, provider_paths: list[Path_],
                       spec: S.BlockSpec | None = None) -> list[Path_]:
    """The changed paths that replace the resource: those the provider names, and changes to a
    ``force_new`` attribute of ``spec`` (the resource's merged schema; the kind's common one by default)."""
    spec = spec or S.KIND_SPECS.get(kind)
    forced = {tuple(p) for p in provider_paths}
    out = []
    for p in changed:
        top = p[0]
        if p in forced or (p[:1] in forced) or (spec is not None and isinstance(top, str)
                                                and top in spec.attrs and spec.attrs[top].force_new):
            out.append(p)
    return out


def apply_ignore_changes(config: dict[str, Any], prior: dict[str, Any], ignore: list[str]) -> dict[str, Any]:
    """Keep recorded values for the attributes ``lifecycle.ignore_changes`` names."""
    if "all" in ignore:
        return {k: prior.get(k, v) for k, v in config.items()}
    out = dict(config)
    for name in ignore:
        top = name.split(".", 1)[0]
        if top in prior:
            out[top] = prior[top]
        else:
            out.pop(top, None)
    return out
