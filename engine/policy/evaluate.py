"""Policy as code (SPEC §10): conditions over each planned change and the plan."""

from __future__ import annotations

from typing import Any

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, error, warning
from mlform.engine.expr.eval import EvalError, Scope
from mlform.engine.expr.scope import evaluate
from mlform.engine.plan.model import Plan, PolicyResult
from mlform.engine.values import UNKNOWN, strip_unknown

_ACTIONS = {"create": ["create"], "update": ["update"], "delete": ["delete"], "replace": ["delete", "create"],
            "no-op": ["no-op"], "read": ["read"]}


def plan_object(plan: Plan) -> dict[str, Any]:
    return {
        "resource_changes": [{"address": c.address, "type": c.kind, "name": c.name, "actions": _ACTIONS[c.action],
                              "before": strip_unknown(c.before), "after": strip_unknown(c.after)}
                             for c in plan.changes],
        "estimates": {c.address: c.estimates for c in plan.changes if c.estimates},
    }


def evaluate_policies(cfg: Config, plan: Plan, overrides: list[str]) -> tuple[list[PolicyResult], Diagnostics]:
    """Evaluate every policy; returns results and diagnostics (errors for refusals)."""
    d = Diagnostics()
    results: list[PolicyResult] = []
    pobj = plan_object(plan)
    for name, pol in sorted(cfg.policies.items()):
        targets: list[tuple[str | None, dict[str, Any]]] = []
        if pol.applies_to in (None, "plan"):
            targets.append((None, {}))
        else:
            for c in plan.changes:
                if c.kind != pol.applies_to or c.action in ("no-op",):
                    continue
                after = dict(c.after or {})
                for k, v in (c.estimates or {}).items():
                    if k in ("cost_per_hour", "cost_per_million", "p99_ms"):
                        after.setdefault({"cost_per_hour": "estimated_cost_per_hour",
                                          "cost_per_million": "estimated_cost_per_million",
                                          "p99_ms": "estimated_p99_ms"}[k], v)
                targets.append((c.address, {"address": c.address, "actions": _ACTIONS[c.action],
                                            "before": c.before, "after": after, "type": c.kind}))
        for addr, change in targets:
            scope = Scope({"change": change, "plan": pobj, "var": plan.variables}, cfg.directory)
            try:
                ok = evaluate(pol.condition, scope)
            except EvalError as e:
                for x in e.diagnostics:
                    x.summary = f'Policy "{name}" could not be evaluated: {x.summary}'
                    d.append(x)
                continue
            passed = ok is True or ok is UNKNOWN
            overridden = not passed and pol.enforcement == "soft_mandatory" and name in overrides
            res = PolicyResult(name, pol.enforcement, addr, passed, pol.message or f'policy "{name}" failed',
                               overridden)
            results.append(res)
            if passed:
                continue
            where = f" for {addr}" if addr else ""
            if pol.enforcement == "advisory" or overridden:
                d.append(warning(f'Policy "{name}" failed{where}' + (" (overridden)" if overridden else ""),
                                 pol.message, pol.condition.rng))
            else:
                hint = (f" Override it with --override-policy {name} (recorded in history)."
                        if pol.enforcement == "soft_mandatory" else " This policy is hard-mandatory.")
                d.append(error(f'Policy "{name}" refused the plan{where}', (pol.message or "") + hint,
                               pol.condition.rng, address=addr))
    return results, d
