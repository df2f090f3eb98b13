"""Compute a plan: refresh, evaluate, ask providers, diff (docs/cli.md, docs/plan-format.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mlform.engine.config import schema as S
from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources
from mlform.engine.diagnostics import Diagnostic, Diagnostics, DiagnosticsError, error
from mlform.engine.expr.eval import EvalError, contains_errored
from mlform.engine.expr.scope import evaluate
from mlform.engine.graph.build import build_graph
from mlform.engine.graph.digraph import DiGraph, ancestors, topological_sort
from mlform.engine.plan.context import EvalContext, Instance
from mlform.engine.plan.diff import changed_paths, forces_replacement, apply_ignore_changes
from mlform.engine.plan.model import OutputChange, Plan, ResourceChange
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.providers.protocol import PlanChangeRequest, ReadRequest
from mlform.engine.state.model import State, now_iso
from mlform.engine.state.sensitive import contains_marker
from mlform.engine.values import UNKNOWN, contains_unknown


@dataclass
class PlanOptions:
    mode: str = "normal"  # normal | destroy | refresh-only
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    refresh: bool = True
    var_sources: VarSources = field(default_factory=VarSources)
    environ: dict[str, str] | None = None
    fixed_variables: dict[str, Any] | None = None
    progress: Callable[[str], None] | None = None


def _attach(d: Diagnostic, cfg: Config, address: str, path: tuple[str | int, ...] | None) -> Diagnostic:
    """Map a provider's attribute path to the range in the user's file."""
    d.address = d.address or address
    if d.range is not None:
        return d
    base = address.split("[", 1)[0]
    r = cfg.resources.get(base)
    if r is None:
        return d
    d.range = r.rng
    if path:
        body = r.body
        steps = list(path)
        for i, step in enumerate(steps):
            if isinstance(step, int):
                continue  # consumed with the block type before it
            if step in body.attributes:
                d.range = body.attributes[step].expr.rng
                break
            # ("assert", 2, ...) is the third assert block; ("assert", ...) the first.
            nth = steps[i + 1] if i + 1 < len(steps) and isinstance(steps[i + 1], int) else 0
            nb = next((b for j, b in enumerate(x for x in body.blocks if x.type == step) if j == nth), None)
            if nb is None:
                break
            d.range, body = nb.rng, nb.body
    return d


def _base(address: str) -> str:
    return address.split("[", 1)[0]


def target_closure(g: DiGraph, targets: list[str]) -> set[str]:
    """Targets and everything they depend on (block addresses)."""
    out: set[str] = set()
    for t in targets:
        b = _base(t)
        if b in g:
            out.add(b)
            out |= ancestors(g, b)
    return out


def make_plan(cfg: Config, state: State, opts: PlanOptions, providers: ProviderManager | None = None
              ) -> tuple[Plan | None, Diagnostics, EvalContext | None]:
    """Plan ``cfg`` against ``state``. Returns (plan or None on errors, diagnostics, context)."""
    d = Diagnostics()
    g, gd = build_graph(cfg)
    d.extend(gd)
    if d.has_errors:
        return None, d, None
    ctx = EvalContext(cfg)
    d.extend(ctx.load_variables(opts.var_sources, opts.environ, opts.fixed_variables))
    if d.has_errors:
        return None, d, ctx
    own = providers is None
    pm = providers or ProviderManager(cfg, cfg.directory, lambda key: _provider_config(ctx, key))
    if pm._evaluate_block is None:
        pm._evaluate_block = lambda key: _provider_config(ctx, key)
    plan = Plan(mode=opts.mode,  # type: ignore[arg-type]
                config_digest=cfg.digest, prior_lineage=state.lineage if state.serial else None,
                prior_serial=state.serial if state.serial else None,
                prior_state=state.model_dump(mode="json"), targets=list(opts.targets),
                replace=list(opts.replace), created=now_iso(),
                sensitive_variables=sorted(ctx.sensitive_vars))
    plan.variables = dict(ctx.var_values)
    try:
        prior = _refresh(cfg, state, opts, pm, plan, d) if opts.refresh else state.by_address()
        if d.has_errors:
            return None, d, ctx
        plan.refreshed_state = {"resources": [r.model_dump(mode="json") for r in prior.values()]}
        if opts.mode == "refresh-only":
            return plan, d, ctx
        wanted = target_closure(g, opts.targets) if opts.targets else None
        seen: set[str] = set()
        if opts.mode != "destroy":
            for node in topological_sort(g):
                kind = g.nodes[node]["kind"]
                try:
                    if kind == "local":
                        ctx.eval_local(node.split(".", 1)[1])
                    elif kind == "resource":
                        _plan_resource(cfg, ctx, node, prior, pm, plan, opts, wanted, seen, d)
                except EvalError as e:
                    d.extend(e.diagnostics)
                    if kind == "resource":
                        ctx.set_errored(cfg.resources[node])
                except DiagnosticsError as e:
                    d.extend(_attach(x, cfg, node, x.attribute_path) for x in e.diagnostics)
                    if kind == "resource":
                        ctx.set_errored(cfg.resources[node])
            if d.has_errors:
                return None, d, ctx
        # Orphans (and everything, in destroy mode): delete.
        for addr, rs in prior.items():
            if addr in seen:
                continue
            if wanted is not None and _base(addr) not in wanted and addr not in opts.targets:
                continue
            decl = cfg.resources.get(_base(addr))
            if decl is not None and decl.lifecycle.prevent_destroy:
                d.append(error("Instance cannot be destroyed",
                               f"{addr} has lifecycle.prevent_destroy set, but the plan would destroy it. "
                               "Remove prevent_destroy to allow it, or keep the resource in the configuration.",
                               decl.rng, address=addr))
                continue
            plan.changes.append(ResourceChange(
                address=addr, kind=rs.kind, name=rs.name, index_key=rs.index_key, provider=rs.provider,
                action="delete", before=rs.attributes, after=None, sensitive_paths=rs.sensitive_paths,
                dependencies=list(rs.dependencies), private=rs.private,
                reason="destroy" if opts.mode == "destroy" else _orphan_reason(decl)))
        if opts.mode != "destroy":
            _plan_outputs(cfg, ctx, state, plan, d)
        else:  # every recorded output goes with the resources, as Terraform shows it
            plan.output_changes.extend(
                OutputChange(name, "delete", o.get("value"), None, bool(o.get("sensitive")))
                for name, o in state.outputs.items())
    finally:
        if own:
            pm.close()
    if d.has_errors:
        return None, d, ctx
    plan.changes.sort(key=lambda c: c.address)
    plan.evals = [{"address": c.address, "reason": "inputs changed" if c.before else "new suite"}
                  for c in plan.changes if c.kind == "eval_suite" and c.action in ("create", "update", "replace")]
    return plan, d, ctx


def _orphan_reason(decl: Any) -> str:
    """Why a recorded instance has no place in the configuration."""
    if decl is not None and decl.count is not None:
        return "count index out of range"
    if decl is not None and decl.for_each is not None:
        return "for_each key not found"
    return "no longer in configuration"


def _provider_config(ctx: EvalContext, key: str) -> dict[str, Any]:
    decl = ctx.cfg.providers[key]
    out: dict[str, Any] = {}
    for name, a in decl.body.attributes.items():
        if name == "alias":
            continue
        out[name] = evaluate(a.expr, ctx.scope())
    return out


def _refresh(cfg: Config, state: State, opts: PlanOptions, pm: ProviderManager, plan: Plan,
             d: Diagnostics) -> dict[str, Any]:
    prior = {}
    for rs in state.resources:
        if opts.progress:
            opts.progress(f"{rs.address}: Refreshing state...")
        try:
            prov = pm.get(rs.provider)
        except DiagnosticsError as e:
            d.extend(e.diagnostics)
            continue
        resp = prov.read(ReadRequest(rs.kind, rs.address, rs.attributes, rs.private))
        for x in resp.diagnostics:
            d.append(_attach(x, cfg, rs.address, x.attribute_path))
        if resp.state is None:
            plan.drift.append({"address": rs.address, "action": "delete", "before": rs.attributes, "after": None})
            continue
        if rs.sensitive_paths:
            from mlform.engine.state.sensitive import unmask  # a secret read back is not drift
            rs = rs.model_copy(update={"attributes": unmask(rs.attributes, resp.state)})
        if resp.state != rs.attributes:
            plan.drift.append({"address": rs.address, "action": "update", "before": rs.attributes,
                               "after": resp.state})
        prior[rs.address] = rs.model_copy(update={"attributes": resp.state})
    return prior


def _plan_resource(cfg: Config, ctx: EvalContext, node: str, prior: dict[str, Any], pm: ProviderManager,
                   plan: Plan, opts: PlanOptions, wanted: set[str] | None, seen: set[str], d: Diagnostics) -> None:
    r = cfg.resources[node]
    ctx.init_empty(r)
    instances = ctx.expand(r)
    deps = sorted({_base(a) for a in _deps_of(cfg, node)})
    for inst in instances:
        seen.add(inst.address)
        rs = prior.get(inst.address)
        if wanted is not None and node not in wanted:
            if rs is not None:
                ctx.set_instance_value(inst, _known_attributes(ctx, inst, rs), rs.sensitive_paths)
            continue
        config, sens, cd = ctx.eval_config(inst)
        d.extend(cd)
        # An instance that fails here, or reads one that failed, is marked: what refers
        # to it then adds no error of its own (one mistake, one error).
        if cd.has_errors or contains_errored(config):
            ctx.set_instance_errored(inst)
            continue
        if contains_marker(config):
            d.append(error("Sensitive value not available", f"{inst.address} uses a sensitive value of a resource "
                           "this plan does not plan, and unencrypted state holds only its digest. Plan that "
                           "resource too (add it with --target), or set MLFORM_STATE_KEY so state keeps sensitive "
                           "values, sealed.", inst.decl.rng, address=inst.address))
            ctx.set_instance_errored(inst)
            continue
        change = plan_instance(cfg, ctx, inst, config, sens, rs, pm, opts.replace, deps, d)
        if change is None:
            ctx.set_instance_errored(inst)
            continue
        plan.changes.append(change)
        ctx.set_instance_value(inst, change.after or {}, change.sensitive_paths)


def _known_attributes(ctx: EvalContext, inst: Instance, rs: Any) -> dict[str, Any]:
    """A resource left out of the plan (--target), as references see it: its state, with
    the sensitive values unencrypted state keeps only as digests put back from the
    configuration (known on every plan from variables), where they match."""
    if not rs.sensitive_paths:
        return rs.attributes  # type: ignore[no-any-return]
    from mlform.engine.state.sensitive import unmask
    try:
        config, _, _ = ctx.eval_config(inst)
    except (EvalError, DiagnosticsError):
        return rs.attributes  # type: ignore[no-any-return]
    return unmask(rs.attributes, config)  # type: ignore[no-any-return]


def _deps_of(cfg: Config, node: str) -> list[str]:
    from mlform.engine.graph.build import _body_deps

    r = cfg.resources[node]
    out = [dep for dep, _ in _body_deps(r.body, skip=("provider", "depends_on"))
           if dep.split(".", 1)[0] in S.RESOURCE_KINDS]
    out += [a for a, _ in r.depends_on]
    return sorted(set(out))


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
    resp = prov.plan_change(PlanChangeRequest(r.kind, inst.address, config, prior_attrs,
                                              rs.private if rs is not None else {}))
    for x in resp.diagnostics:
        d.append(_attach(x, cfg, inst.address, x.attribute_path))
    if resp.diagnostics.has_errors or resp.planned_state is None:
        return None
    after = resp.planned_state
    action = "create"
    replace_paths: list[list[str | int]] = []
    reason = None
    if rs is not None:
        changed = changed_paths(prior_attrs or {}, after)
        forced = forces_replacement(changed, r.kind, resp.requires_replace)
        if inst.address in replace or _base(inst.address) in replace:
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
    return ResourceChange(
        address=inst.address, kind=r.kind, name=r.name, index_key=inst.key, provider=r.provider_key,
        action=action, before=prior_attrs, after=after, replace_paths=replace_paths,  # type: ignore[arg-type]
        sensitive_paths=sens, dependencies=deps, estimates=resp.estimates, rollout=rollout,
        create_before_destroy=r.lifecycle.create_before_destroy, reason=reason, config=config,
        private=rs.private if rs is not None else {})


def _plan_outputs(cfg: Config, ctx: EvalContext, state: State, plan: Plan, d: Diagnostics) -> None:
    for name, o in cfg.outputs.items():
        try:
            v = evaluate(o.value, ctx.scope())
        except EvalError as e:
            d.extend(e.diagnostics)
            continue
        before = state.outputs.get(name, {}).get("value") if name in state.outputs else None
        if isinstance(before, dict):
            from mlform.engine.state.sensitive import unmask  # a stored digest of the same value
            before = unmask(before, v)
        sensitive = o.sensitive or ctx._refs_sensitive(o.value)
        if name not in state.outputs:
            action = "create"
        elif contains_unknown(v) or v != before:
            action = "update"
        else:
            action = "no-op"
        plan.output_changes.append(OutputChange(name, action, before, v, sensitive))  # type: ignore[arg-type]
    for name in state.outputs:
        if name not in cfg.outputs:
            plan.output_changes.append(OutputChange(name, "delete", state.outputs[name].get("value"), None,
                                                    bool(state.outputs[name].get("sensitive"))))


__all__ = ["PlanOptions", "make_plan", "plan_instance", "UNKNOWN"]
