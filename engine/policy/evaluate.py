"""Policy as code (docs/policies.md): conditions over each planned change and the plan."""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, error, warning
from mlform.engine.expr.eval import EvalError, Scope
from mlform.engine.expr.scope import evaluate
from mlform.engine.plan.json_view import actions
from mlform.engine.plan.model import Plan, PolicyResult
from mlform.engine.values import UNKNOWN, strip_unknown



def plan_object(plan: Plan) -> dict[str, Any]:
    return {
        "resource_changes": [{"address": c.address, "type": c.kind, "name": c.name, "actions": actions(c),
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
                decl = cfg.resources.get(c.address.split("[", 1)[0])
                spec = decl.spec if decl is not None else S.KIND_SPECS.get(c.kind)
                targets.append((c.address, {"address": c.address, "actions": actions(c),
                                            "before": _with_nulls(spec, c.before),
                                            "after": _with_nulls(spec, after) if c.after is not None else None,
                                            "type": c.kind}))
        for addr, change in targets:
            scope = Scope({"change": change, "plan": pobj, "var": plan.variables}, cfg.directory)
            overridden = pol.enforcement == "soft_mandatory" and name in overrides
            where = f" for {addr}" if addr else ""
            hint = (f'Override it with --override-policy {name} --reason "WHY" (recorded in history).'
                    if pol.enforcement == "soft_mandatory" else "This policy is hard-mandatory.")
            try:
                ok = evaluate(pol.condition, scope)
            except EvalError as e:
                # A policy that cannot be evaluated has not passed: its
                # enforcement level decides, as in Sentinel.
                x = e.diagnostics.errors[0]
                results.append(PolicyResult(name, pol.enforcement, addr, False,
                                            f"could not be evaluated: {x.summary}. {x.detail}".strip(), overridden))
                soft = pol.enforcement == "advisory" or overridden
                detail = x.detail if soft else f"{x.detail}\n\n{hint}"
                d.append((warning if soft else error)(f'Policy "{name}" could not be evaluated{where}: {x.summary}',
                                                      detail, x.range or pol.condition.rng, address=addr))
                continue
            passed = ok is True or ok is UNKNOWN
            overridden = overridden and not passed
            res = PolicyResult(name, pol.enforcement, addr, passed, pol.message or f'policy "{name}" failed',
                               overridden)
            results.append(res)
            if passed:
                continue
            if pol.enforcement == "advisory" or overridden:
                d.append(warning(f'Policy "{name}" failed{where}' + (" (overridden)" if overridden else ""),
                                 pol.message, pol.condition.rng))
            else:
                d.append(error(f'Policy "{name}" refused the plan{where}',
                               f"{pol.message}\n\n{hint}" if pol.message else hint,
                               pol.condition.rng, address=addr))
    return results, d


def _with_nulls(spec: S.BlockSpec | None, attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Attributes as a policy sees them: every attribute of the resource's schema (its provider's
    included), null when unset (as in Terraform)."""
    if attrs is None:
        return None
    out = dict(attrs)
    if spec is None:
        return out
    for name in spec.attrs:
        out.setdefault(name, None)
    for name, nested in spec.blocks.items():  # an absent single block is null, a repeated one empty
        out.setdefault(name, None if nested.max_items == 1 and not nested.labels else [])
    return out
