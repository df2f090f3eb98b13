"""Plan JSON in the shape of ``terraform show -json`` (docs/plan-format.md), plus mlform's additions."""

from __future__ import annotations

from typing import Any

from mlform.engine.plan.json_config import config_summary, planned_values, relevant_attributes, sensitive_tree
from mlform.engine.plan.model import Plan
from mlform.engine.values import after_unknown_tree, redact, strip_unknown

FORMAT_VERSION = "1.2"
# The Terraform release whose plan JSON shape this is (format_version 1.2), with mlform's
# version as semver build metadata: tools that require the field (Checkov) or compare it
# with a Terraform release read a version they know (docs/plan-format.md).
TERRAFORM_SHAPE = "1.5.0"
# Terraform's action_reason values, which plan tooling matches on.
_REASONS = {
    "tainted": "replace_because_tainted",
    "requested with --replace": "replace_by_request",
    "no longer in configuration": "delete_because_no_resource_config",
    "count index out of range": "delete_because_count_index",
    "for_each key not found": "delete_because_each_key",
}
_ACTIONS = {"create": ["create"], "update": ["update"], "delete": ["delete"], "no-op": ["no-op"], "read": ["read"]}


def actions(c: Any) -> list[str]:
    """A change's Terraform action list, as plan JSON shows it (and policies see it)."""
    if c.action == "replace":
        return ["create", "delete"] if c.create_before_destroy else ["delete", "create"]
    return _ACTIONS[c.action]


def terraform_version(mlform_version: str) -> str:
    return f"{TERRAFORM_SHAPE}+mlform.{mlform_version}"


def plan_json(plan: Plan, cfg: Any = None) -> dict[str, Any]:
    """Plan JSON for ``plan``; ``cfg`` (the project's configuration, when it can be read) gives
    ``configuration`` and ``relevant_attributes``."""
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
                "before_sensitive": sensitive_tree(c.before, c.sensitive_paths) if c.before is not None else False,
                "after_sensitive": sensitive_tree(c.after, c.sensitive_paths) if c.after is not None else False,
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
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "terraform_version": terraform_version(plan.mlform_version),
        "mlform_version": plan.mlform_version,
        "plan_mode": plan.mode,
        "variables": {k: {"value": None if k in plan.sensitive_variables else v} for k, v in sorted(plan.variables.items())},
        "planned_values": planned_values(plan),
        "resource_changes": rcs,
        "resource_drift": [{"address": dr["address"], "change": {"actions": [dr["action"]]}} for dr in plan.drift],
        "output_changes": outs,
        "configuration": config_summary(cfg) if cfg is not None else {},
        "relevant_attributes": relevant_attributes(cfg) if cfg is not None else [],
        "estimates": {c.address: c.estimates for c in plan.changes if c.estimates},
        "rollouts": {c.address: c.rollout for c in plan.changes if c.rollout},
        "evals": plan.evals,
        "policy_results": policy_results_json(plan),
        "applyable": plan.has_changes,
        "complete": True,
        "errored": False,
    }
    if plan.created:
        doc["timestamp"] = plan.created
    if plan.prior_serial is not None and plan.prior_state:  # no state yet: no prior_state, as Terraform
        doc["prior_state"] = _prior_state(plan.prior_state)
    return doc


def policy_results_json(plan: Plan) -> list[dict[str, Any]]:
    return [{"policy": r.policy, "enforcement": r.enforcement, "address": r.address, "passed": r.passed,
             "message": r.message, "overridden": r.overridden, "override_reason": r.override_reason}
            for r in plan.policy_results]


def _prior_state(prior: dict[str, Any]) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": terraform_version(str(prior.get("mlform_version") or "0.1.0")),
        "serial": prior.get("serial"),
        "lineage": prior.get("lineage"),
        "values": {"root_module": {"resources": [
            {"address": r["address"], "mode": "managed", "type": r["kind"], "name": r["name"],
             **({"index": r["index_key"]} if r.get("index_key") is not None else {}),
             "provider_name": r["provider"], "schema_version": 0,
             "values": redact(r["attributes"], r.get("sensitive_paths", [])),
             "sensitive_values": sensitive_tree(r["attributes"], r.get("sensitive_paths", []))}
            for r in prior.get("resources", [])]}},
    }


__all__ = ["FORMAT_VERSION", "actions", "config_summary", "plan_json", "policy_results_json", "terraform_version"]
