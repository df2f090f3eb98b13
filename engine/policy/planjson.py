"""Plan JSON (the shape ``mlform show -json`` writes, docs/plan-format.md) back to the engine's
:class:`Plan` view, so that ``mlform policy test`` evaluates ``policy`` blocks on fixture plans
exactly as ``plan`` evaluates them on a fresh one.

Only what policies read is taken: each resource change (address, type, name, actions, before,
after with ``after_unknown``), the estimates per address, the variables and the plan mode. A
hand-written fixture may leave out everything else; ``type`` and ``name`` default to the
address's. Mistakes are diagnostics at the value's ``file:line:col``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, cast

from mlform.engine.diagnostics import Diagnostics, Pos, SourceRange, error
from mlform.engine.load.jsonpos import Node, parse
from mlform.engine.plan.model import Action, Plan, ResourceChange
from mlform.engine.values import UNKNOWN

_ACTIONS: dict[tuple[str, ...], tuple[Action, bool]] = {
    ("create",): ("create", False), ("update",): ("update", False), ("delete",): ("delete", False),
    ("no-op",): ("no-op", False), ("read",): ("read", False),
    ("delete", "create"): ("replace", False), ("create", "delete"): ("replace", True),
}
_MODES = ("normal", "destroy", "refresh-only")


def read_json(text: str, display: str, d: Diagnostics) -> Node | None:
    """``text`` as a positioned JSON tree, or None with a diagnostic at the syntax error."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        at = Pos(exc.lineno, exc.colno)
        d.append(error("Invalid JSON", f"{exc.msg}. Fix the JSON syntax here.", SourceRange(display, at, at)))
        return None
    except (ValueError, RecursionError):
        d.append(error("Invalid JSON", f"{display} nests too deeply or holds a number with more than "
                       f"{sys.get_int_max_str_digits():,} digits.", SourceRange(display, Pos(1, 1), Pos(1, 1))))
        return None
    try:
        return parse(text, display)
    except RecursionError:
        d.append(error("Invalid JSON", f"{display} nests too deeply.", SourceRange(display, Pos(1, 1), Pos(1, 1))))
        return None


def members(node: Node) -> dict[str, tuple[SourceRange, Node]]:
    return cast("dict[str, tuple[SourceRange, Node]]", node.value) if isinstance(node.value, dict) else {}


def plan_from_json(node: Node, d: Diagnostics) -> Plan | None:
    """The :class:`Plan` of a plan JSON document; None (with diagnostics) when it is not one."""
    if not isinstance(node.value, dict):
        d.append(error("Invalid plan JSON", "A plan is a JSON object, as `mlform show -json PLANFILE` writes it.",
                       node.rng))
        return None
    top = members(node)
    plan = Plan()
    before = len(d.errors)
    if "plan_mode" in top:
        mode = top["plan_mode"][1]
        if mode.value in _MODES:
            plan.mode = mode.value
        else:
            d.append(error("Invalid plan_mode", f"plan_mode is one of {', '.join(_MODES)}.", mode.rng))
    if "variables" in top:
        plan.variables = _variables(top["variables"][1], d)
    estimates = top["estimates"][1].plain() if "estimates" in top else {}
    if not isinstance(estimates, dict):
        d.append(error("Invalid estimates", "estimates maps a resource address to its estimates object.",
                       top["estimates"][1].rng))
        estimates = {}
    if "resource_changes" not in top:  # a saved plan file, or another JSON document
        d.append(error("Not plan JSON", 'The document has no "resource_changes". A saved plan file is not plan JSON: '
                       "write it with `mlform show --json PLANFILE > plan.json` (a plan without changes has "
                       '"resource_changes": []).', node.rng))
        return None
    rcs = top["resource_changes"][1]
    if not isinstance(rcs.value, list):
        d.append(error("Invalid resource_changes", "resource_changes is a list of changes.", rcs.rng))
        return None
    for item in rcs.value:
        c = _change(item, d)
        if c is not None:
            est = estimates.get(c.address)
            c.estimates = est if isinstance(est, dict) else None
            plan.changes.append(c)
    return plan if len(d.errors) == before else None


def _variables(node: Node, d: Diagnostics) -> dict[str, Any]:
    if not isinstance(node.value, dict):
        d.append(error("Invalid variables", 'variables maps a name to {"value": ...}, as plan JSON writes it.',
                       node.rng))
        return {}
    out: dict[str, Any] = {}
    for name, (_, v) in members(node).items():
        inner = members(v)
        if "value" not in inner:
            d.append(error(f'Invalid variable "{name}"', 'A variable in plan JSON is {"value": ...}.', v.rng))
            continue
        out[name] = inner["value"][1].plain()
    return out


def _change(item: Node, d: Diagnostics) -> ResourceChange | None:
    f = members(item)
    addr = f["address"][1].value if "address" in f else None
    if not isinstance(item.value, dict) or not isinstance(addr, str) or not addr:
        d.append(error("Invalid resource change", 'Each resource change has at least "address" and '
                       '"change": {"actions": [...]}.', item.rng))
        return None
    ch = members(f["change"][1]) if "change" in f else {}
    acts = ch["actions"][1] if "actions" in ch else None
    key = tuple(x.value for x in acts.value) if acts is not None and isinstance(acts.value, list) else None
    if acts is None or key not in _ACTIONS:
        d.append(error(f"Invalid actions for {addr}", 'actions is one of ["create"], ["update"], ["delete"], '
                       '["no-op"], ["read"], ["delete", "create"] or ["create", "delete"].',
                       acts.rng if acts is not None else item.rng))
        return None
    action, cbd = _ACTIONS[cast("tuple[str, ...]", key)]
    head = addr.split("[", 1)[0].split(".")
    kind = _text(f, "type") or head[0]
    name = _text(f, "name") or (head[1] if len(head) > 1 else addr)
    attrs = {}
    for side in ("before", "after"):
        v = ch[side][1].plain() if side in ch else None
        if v is not None and not isinstance(v, dict):
            d.append(error(f"Invalid {side} for {addr}", f"{side} is an object of attributes or null.",
                           ch[side][1].rng))
            return None
        attrs[side] = v
    after = attrs["after"]
    if after is not None and "after_unknown" in ch:
        after = _unknowns(after, ch["after_unknown"][1].plain())
    index = f["index"][1].value if "index" in f else None
    return ResourceChange(addr, kind, name, index if isinstance(index, (str, int)) else None,
                          _text(f, "provider_name") or "", action, attrs["before"], after,
                          create_before_destroy=cbd)


def _text(f: dict[str, tuple[SourceRange, Node]], key: str) -> str | None:
    v = f[key][1].value if key in f else None
    return v if isinstance(v, str) and v else None


def _unknowns(value: Any, tree: Any) -> Any:
    """``value`` with UNKNOWN wherever ``after_unknown`` says true (as the plan had it)."""
    if tree is True:
        return UNKNOWN
    if isinstance(tree, dict) and isinstance(value, dict):
        base = dict(value)
        for k, t in tree.items():
            base[k] = _unknowns(base.get(k), t)
        return base
    if isinstance(tree, list) and isinstance(value, list):
        return [_unknowns(v, t) for v, t in zip(value, tree)] + value[len(tree):]
    return value


__all__ = ["members", "plan_from_json", "read_json"]
