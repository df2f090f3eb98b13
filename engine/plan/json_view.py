"""Plan JSON in the shape of ``terraform show -json`` (docs/plan-format.md), plus mlform's additions."""

from __future__ import annotations

from typing import Any

from mlform.engine.plan.model import Plan
from mlform.engine.values import after_unknown_tree, redact, strip_unknown

FORMAT_VERSION = "1.2"
# Terraform's action_reason values, which plan tooling matches on.
_REASONS = {
    "tainted": "replace_because_tainted",
    "requested with --replace": "replace_by_request",
    "no longer in configuration": "delete_because_no_resource_config",
    "count index out of range": "delete_because_count_index",
    "for_each key not found": "delete_because_each_key",
}
_ACTIONS = {"create": ["create"], "update": ["update"], "delete": ["delete"], "no-op": ["no-op"], "read": ["read"]}


def _sens_tree(value: Any, paths: list[list[Any]]) -> Any:
    """Terraform's before/after_sensitive: same shape as value, true where sensitive."""
    if not paths:
        return {} if isinstance(value, dict) or value is None else False
    out: dict[str, Any] = {}
    for p in paths:
        cur = out
        for step in p[:-1]:
            cur = cur.setdefault(str(step), {})
        if p:
            cur[str(p[-1])] = True
    return out


def actions(c: Any) -> list[str]:
    """A change's Terraform action list, as plan JSON shows it (and policies see it)."""
    if c.action == "replace":
        return ["create", "delete"] if c.create_before_destroy else ["delete", "create"]
    return _ACTIONS[c.action]


def plan_json(plan: Plan, config_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    rcs = []
    for c in plan.changes:
        rcs.append({
            "address": c.address,
            "mode": "managed",
            "type": c.kind,
            "name": c.name,
            **({"index": c.index_key} if c.index_key is not None else {}),
            "provider_name": c.provider,
            "change": {
                "actions": actions(c),
                "before": redact(c.before, c.sensitive_paths),
                "after": redact(c.after, c.sensitive_paths),
                "after_unknown": after_unknown_tree(c.after) if c.after is not None else {},
                "before_sensitive": _sens_tree(c.before, c.sensitive_paths) if c.before is not None else False,
                "after_sensitive": _sens_tree(c.after, c.sensitive_paths) if c.after is not None else False,
                "replace_paths": c.replace_paths,
            },
            **({"action_reason": _REASONS[c.reason]} if c.reason in _REASONS else {}),
        })
    outs = {}
    for o in plan.output_changes:
        outs[o.name] = {"actions": _ACTIONS.get(o.action, [o.action]),
                        "before": None if o.sensitive else strip_unknown(o.before),
                        "after": None if o.sensitive else strip_unknown(o.after),
                        "after_unknown": bool(after_unknown_tree(o.after)) if o.after is not None else False,
                        "before_sensitive": o.sensitive, "after_sensitive": o.sensitive}
    prior = plan.prior_state or {}
    return {
        "format_version": FORMAT_VERSION,
        "mlform_version": plan.mlform_version,
        "plan_mode": plan.mode,
        "variables": {k: {"value": None if k in plan.sensitive_variables else v} for k, v in sorted(plan.variables.items())},
        "resource_changes": rcs,
        "resource_drift": [{"address": dr["address"], "change": {"actions": [dr["action"]]}} for dr in plan.drift],
        "output_changes": outs,
        "prior_state": {
            "format_version": FORMAT_VERSION,
            "serial": prior.get("serial"),
            "lineage": prior.get("lineage"),
            "values": {"root_module": {"resources": [
                {"address": r["address"], "mode": "managed", "type": r["kind"], "name": r["name"],
                 "provider_name": r["provider"], "values": redact(r["attributes"], r.get("sensitive_paths", []))}
                for r in prior.get("resources", [])]}},
        },
        "configuration": config_summary or {},
        "estimates": {c.address: c.estimates for c in plan.changes if c.estimates},
        "rollouts": {c.address: c.rollout for c in plan.changes if c.rollout},
        "evals": plan.evals,
        "policy_results": [{"policy": r.policy, "enforcement": r.enforcement, "address": r.address,
                            "passed": r.passed, "message": r.message, "overridden": r.overridden}
                           for r in plan.policy_results],
        "applyable": plan.has_changes,
        "complete": True,
        "errored": False,
    }


def config_summary(cfg: Any) -> dict[str, Any]:
    """The ``configuration`` object: resources, providers, variables, outputs."""
    return {
        "provider_config": {k: {"name": p.name, **({"alias": p.alias} if p.alias else {})}
                            for k, p in sorted(cfg.providers.items())},
        "root_module": {
            "resources": [{"address": r.address, "mode": "managed", "type": r.kind, "name": r.name,
                           "provider_config_key": r.provider_key,
                           "depends_on": [a for a, _ in r.depends_on]} for r in cfg.resources.values()],
            "variables": {n: {"description": v.description, **({"sensitive": True} if v.sensitive else {})}
                          for n, v in sorted(cfg.variables.items())},
            "outputs": {n: {"description": o.description, "sensitive": o.sensitive}
                        for n, o in sorted(cfg.outputs.items())},
        },
    }
