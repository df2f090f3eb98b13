"""Planning one resource instance: ask its provider, classify the change.

:func:`plan_instance` is what the planner calls for each instance of the
configuration; :func:`final_plan` is what the applier calls for a change
whose configuration held values known only after apply, once they are known.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, attach_to_source, error
from mlform.engine.expr.eval import EvalError
from mlform.engine.plan.context import EvalContext, Instance, base_address
from mlform.engine.plan.diff import apply_ignore_changes, changed_paths, forces_replacement
from mlform.engine.plan.model import ResourceChange
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.providers.protocol import PlanChangeRequest
from mlform.engine.state.model import ResourceState
from mlform.engine.values import UNKNOWN, contains_unknown


def plan_instance(cfg: Config, ctx: EvalContext, inst: Instance, config: dict[str, Any],
                  sens: list[list[str | int]], rs: Any, pm: ProviderManager, replace: list[str],
                  deps: list[str], d: Diagnostics) -> ResourceChange | None:
    """Ask the provider to plan one instance and classify the change."""
    r = inst.decl
    prov = pm.get(r.provider_key)
    prior_attrs = rs.attributes if rs is not None else None
    if prior_attrs is not None and rs.sensitive_paths:
        from mlform.engine.state.sensitive import unmask  # stored digests of unchanged secrets -> the values
        prior_attrs = unmask(prior_attrs, config)
    if prior_attrs is not None and r.lifecycle.ignore_changes:
        config = apply_ignore_changes(config, prior_attrs, r.lifecycle.ignore_changes)
    chosen = _choose_hardware(cfg, inst, config, pm, prov, d)  # constraints -> instance_type, replicas, batching
    if chosen is None:
        return None
    config, solution = chosen
    resp = prov.plan_change(PlanChangeRequest(r.kind, inst.address, config, prior_attrs,
                                              rs.private if rs is not None else {}))
    for x in resp.diagnostics:
        d.append(attach_to_source(x, cfg, inst.address, x.attribute_path))
    if resp.diagnostics.has_errors or resp.planned_state is None:
        _no_planned_state(resp, r, inst.address, d)
        return None
    after, resp.estimates = _with_choice(resp.planned_state, resp.estimates, solution, prior_attrs)
    action = "create"
    replace_paths: list[list[str | int]] = []
    reason = None
    if rs is not None:
        changed = changed_paths(prior_attrs or {}, after)
        forced = forces_replacement(changed, r.kind, resp.requires_replace, r.spec)
        if inst.address in replace or base_address(inst.address) in replace:
            action, reason = "replace", "requested with --replace"
        elif rs.status == "tainted":
            action, reason = "replace", "tainted"
        elif forced:
            action, replace_paths = "replace", [list(p) for p in forced]
        elif changed:
            action = "update"
        else:
            action = "no-op"
    if action == "replace" and r.lifecycle.prevent_destroy:
        why = {"requested with --replace": "--replace asks for it", "tainted": "it is tainted"}.get(
            reason or "", "changing " + ", ".join(".".join(map(str, p)) for p in replace_paths) + " forces it")
        d.append(error("Instance cannot be destroyed",
                       f"{inst.address} has lifecycle.prevent_destroy set, but the plan would replace it "
                       f"(destroy and re-create) because {why}. Remove prevent_destroy to allow it, or undo "
                       "the change.", r.rng, address=inst.address))
        return None
    if action == "replace":  # the create half makes a new object: planned as a create, its
        # computed attributes (id, url, ...) unknown until apply, never the old object's
        again = prov.plan_change(PlanChangeRequest(r.kind, inst.address, config, None, {}))
        said = {(x.severity, x.summary, x.detail) for x in resp.diagnostics}  # (placed, so compared by text)
        for x in again.diagnostics:
            if (x.severity, x.summary, x.detail) not in said:  # a warning for both halves is shown once
                d.append(attach_to_source(x, cfg, inst.address, x.attribute_path))
        if again.diagnostics.has_errors or again.planned_state is None:
            _no_planned_state(again, r, inst.address, d)
            return None
        after, est = _with_choice(again.planned_state, again.estimates, solution, prior_attrs)
        resp.estimates = est or resp.estimates
    rollout = None
    if action == "update" and resp.rollout:
        ro = config.get("rollout") or {}
        from mlform.engine.rollout.strategy import StrategyError, resolve
        try:
            steps = list(resolve(ro.get("strategy", "all_at_once"), ro.get("steps")).steps)
        except StrategyError as e:
            d.append(error("Invalid rollout", str(e), r.rng, address=inst.address))
            return None
        rollout = {"strategy": ro.get("strategy", "all_at_once"), "steps": steps,
                   "bake_seconds": ro.get("bake_seconds", 0),
                   "gates": [g.get("address") if isinstance(g, dict) else g for g in ro.get("gates") or []],
                   "rollback_when": ro.get("rollback_when")}
        from mlform.engine.rollout.capabilities import check_rollout  # the provider's rollouts can do it?
        if not check_rollout(r, inst.address, prov, rollout, d):
            return None
    return ResourceChange(
        address=inst.address, kind=r.kind, name=r.name, index_key=inst.key, provider=r.provider_key,
        action=action, before=prior_attrs, after=after, replace_paths=replace_paths,  # type: ignore[arg-type]
        sensitive_paths=sens, dependencies=deps, estimates=resp.estimates, rollout=rollout,
        create_before_destroy=r.lifecycle.create_before_destroy, reason=reason, config=config,
        private=rs.private if rs is not None else {})


def _no_planned_state(resp: Any, r: Any, address: str, d: Diagnostics) -> None:
    """A provider that plans no object for a configured resource, and says no error, is wrong:
    said as an error, never a resource silently left out of the plan."""
    if not resp.diagnostics.has_errors:
        d.append(error("Provider produced invalid plan",
                       f"The provider planned no object for {address}, whose configuration is present, and "
                       "gave no error. This is a bug in the provider: report it to its authors.",
                       r.rng, address=address))


def _choose_hardware(cfg: Config, inst: Instance, config: dict[str, Any], pm: ProviderManager, prov: Any,
                     d: Diagnostics) -> tuple[dict[str, Any], Any] | None:
    """An endpoint's declared constraints choose its hardware before its provider plans it
    (engine/constraints/resolve.py); ``None`` when nothing meets them (errors on ``d``)."""
    from mlform.engine.constraints.resolve import choose

    return choose(pm, prov, cfg, inst.decl, inst.address, config, d)


def _with_choice(after: dict[str, Any], estimates: dict[str, Any] | None, solution: Any,
                 prior: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The planned state and estimates with the constraints' choice (engine/constraints/resolve.py)."""
    from mlform.engine.constraints.resolve import fill_estimated, with_choice

    return fill_estimated(after, solution), with_choice(estimates, solution, prior)


def final_plan(cfg: Config, ctx: EvalContext, ch: ResourceChange, pm: ProviderManager, d: Diagnostics
               ) -> ResourceChange | None:
    """The change ``ch`` planned again at apply time, once what it depends on is applied.

    A planned change whose configuration held values known only after apply
    (``ch.config``) is evaluated again now that they are known, and the
    provider plans it again. Every value the plan knew must come out the
    same ("Provider produced inconsistent final plan" otherwise, as
    Terraform checks). Returns None, with diagnostics, when it cannot.
    """
    decl = cfg.resources[base_address(ch.address)]
    for name in cfg.locals:
        try:
            ctx.eval_local(name)
        except EvalError:
            pass
    inst = next((i for i in ctx.expand(decl) if i.address == ch.address), None)
    if inst is None:
        return None
    config, sens, cd = ctx.eval_config(inst)
    d.extend(cd)
    if cd.has_errors:
        return None
    before = ch.before
    rs = ResourceState(address=ch.address, kind=ch.kind, name=ch.name, provider=ch.provider, attributes=before,
                       private=ch.private) if before is not None else None
    # a replacement is planned again as one (its create half as a create), whatever made it one
    new = plan_instance(cfg, ctx, inst, config, sens, rs, pm, [ch.address] if ch.action == "replace" else [],
                        ch.dependencies, d)
    if new is None:
        return None
    for k, v in (ch.after or {}).items():
        nv = (new.after or {}).get(k)
        if v is not UNKNOWN and not contains_unknown(v) and nv != v:
            d.append(error("Provider produced inconsistent final plan",
                           f'When expanding the plan for {ch.address}, "{k}" changed from {v!r} to {nv!r}. '
                           "The configuration or its inputs changed since the plan; run plan again.",
                           decl.rng, address=ch.address))
            return None
    new.action = ch.action if ch.action != "no-op" else new.action
    new.rollout = ch.rollout or new.rollout
    return new


__all__ = ["plan_instance", "final_plan"]
