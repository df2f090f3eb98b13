"""Compute a plan: refresh, evaluate, ask providers, diff (docs/cli.md, docs/plan-format.md).

The configuration graph is walked inline by the one walker
(:func:`mlform.engine.graph.walk.walk`): each local is evaluated and each
resource block expanded and planned, instance by instance, with
:func:`mlform.engine.plan.instance.plan_instance`. A resource that fails is
marked ERRORED in the context and the walk goes on, so independent mistakes
further down are still reported (one mistake, one error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, attach_to_source, error
from mlform.engine.expr.eval import EvalError, contains_errored
from mlform.engine.expr.scope import evaluate
from mlform.engine.graph.build import build_graph
from mlform.engine.graph.digraph import DiGraph, ancestors
from mlform.engine.graph.walk import walk
from mlform.engine.plan.context import EvalContext, Instance, base_address
from mlform.engine.plan.instance import final_plan, plan_instance
from mlform.engine.plan.model import OutputChange, Plan, ResourceChange
from mlform.engine.plan.refresh import refresh_state
from mlform.engine.providers.manager import ProviderManager
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


_THROUGH = ("local", "var")  # values with no object of their own: a dependency reads through them


def resource_dependencies(g: DiGraph, node: str) -> list[str]:
    """The resource blocks ``node`` refers to, directly or through locals (a local that
    reads ``model.a`` makes ``model.a`` a dependency of whatever reads the local), or names
    in ``depends_on``: what its changes record as ``dependencies`` and apply orders by, as
    Terraform's graph follows locals transitively."""
    out: set[str] = set()
    seen: set[str] = {node}
    todo = [node]
    while todo:
        for p in g.predecessors(todo.pop()):
            if p in seen:
                continue
            seen.add(p)
            kind = g.nodes[p].get("kind")
            if kind == "resource":
                out.add(p)
            elif kind in _THROUGH:
                todo.append(p)
    return sorted(out)


def target_closure(g: DiGraph, targets: list[str]) -> set[str]:
    """Targets and everything they depend on (block addresses)."""
    out: set[str] = set()
    for t in targets:
        b = base_address(t)
        if b in g:
            out.add(b)
            out |= ancestors(g, b)
    return out


def make_plan(cfg: Config, state: State, opts: PlanOptions, providers: ProviderManager | None = None, *,
              graph: DiGraph | None = None, context: EvalContext | None = None
              ) -> tuple[Plan | None, Diagnostics, EvalContext | None]:
    """Plan ``cfg`` against ``state``. Returns (plan or None on errors, diagnostics, context).

    ``graph`` is ``cfg``'s graph when the caller built it already (checked: no
    cycle); ``context`` a fresh context to plan in (its variables are loaded
    here); ``providers`` a manager configured from that context. Each is made
    here when not given (and the providers closed again).
    """
    d = Diagnostics()
    if graph is None:
        graph, gd = build_graph(cfg)
        d.extend(gd)
        if d.has_errors:
            return None, d, None
    g = graph
    ctx = context or EvalContext(cfg)
    d.extend(ctx.load_variables(opts.var_sources, opts.environ, opts.fixed_variables))
    if d.has_errors:
        return None, d, ctx
    own = providers is None
    pm = providers or ProviderManager(cfg, cfg.directory, ctx.provider_config)
    plan = Plan(mode=opts.mode,  # type: ignore[arg-type]
                config_digest=cfg.digest, prior_lineage=state.lineage if state.serial else None,
                prior_serial=state.serial if state.serial else None,
                prior_state=state.model_dump(mode="json"), targets=list(opts.targets),
                replace=list(opts.replace), created=now_iso(),
                sensitive_variables=sorted(ctx.sensitive_vars))
    plan.variables = dict(ctx.var_values)
    try:
        prior = refresh_state(cfg, state, pm, plan, d, opts.progress) if opts.refresh else state.by_address()
        if d.has_errors:
            return None, d, ctx
        plan.refreshed_state = {"resources": [r.model_dump(mode="json") for r in prior.values()]}
        if opts.mode == "refresh-only":
            return plan, d, ctx
        wanted = target_closure(g, opts.targets) if opts.targets else None
        seen: set[str] = set()
        if opts.mode != "destroy":
            def visit(node: str) -> bool:
                kind = g.nodes[node]["kind"]
                try:
                    if kind == "local":
                        ctx.eval_local(node.split(".", 1)[1])
                    elif kind == "resource":
                        _plan_resource(cfg, g, ctx, node, prior, pm, plan, opts, wanted, seen, d)
                except EvalError as e:
                    d.extend(e.diagnostics)
                    if kind == "resource":
                        ctx.set_errored(cfg.resources[node])
                except DiagnosticsError as e:
                    d.extend(attach_to_source(x, cfg, node, x.attribute_path) for x in e.diagnostics)
                    if kind == "resource":
                        ctx.set_errored(cfg.resources[node])
                return True  # a failure is ERRORED in the context: dependents are still checked

            walk(g, visit)
            if d.has_errors:
                return None, d, ctx
        _plan_deletes(cfg, prior, seen, wanted, opts, plan, d)
        if opts.mode != "destroy":
            _plan_outputs(cfg, g, ctx, state, plan, wanted, d)
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


def _plan_deletes(cfg: Config, prior: dict[str, Any], seen: set[str], wanted: set[str] | None, opts: PlanOptions,
                  plan: Plan, d: Diagnostics) -> None:
    """Orphans (and everything, in destroy mode): delete."""
    for addr, rs in prior.items():
        if addr in seen:
            continue
        if wanted is not None and base_address(addr) not in wanted and addr not in opts.targets:
            continue
        decl = cfg.resources.get(base_address(addr))
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


def _orphan_reason(decl: Any) -> str:
    """Why a recorded instance has no place in the configuration."""
    if decl is not None and decl.count is not None:
        return "count index out of range"
    if decl is not None and decl.for_each is not None:
        return "for_each key not found"
    return "no longer in configuration"


def _plan_resource(cfg: Config, g: DiGraph, ctx: EvalContext, node: str, prior: dict[str, Any],
                   pm: ProviderManager, plan: Plan, opts: PlanOptions, wanted: set[str] | None, seen: set[str],
                   d: Diagnostics) -> None:
    r = cfg.resources[node]
    ctx.init_empty(r)
    instances = ctx.expand(r)
    deps = resource_dependencies(g, node)
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


def outside_targets(g: DiGraph, wanted: set[str], output: str) -> bool:
    """Whether ``output`` reads a resource outside ``wanted`` (a targeted plan's closure).

    As Terraform does with -target, such an output is not evaluated: it stays
    as it is in state (the resources it reads may not exist yet)."""
    node = f"output.{output}"
    return node in g and any(g.nodes[a].get("kind") == "resource" and a not in wanted for a in ancestors(g, node))


def _plan_outputs(cfg: Config, g: DiGraph, ctx: EvalContext, state: State, plan: Plan, wanted: set[str] | None,
                  d: Diagnostics) -> None:
    for name, o in cfg.outputs.items():
        if wanted is not None and outside_targets(g, wanted, name):
            continue
        try:
            v = evaluate(o.value, ctx.scope())
        except EvalError as e:
            d.extend(e.diagnostics)
            continue
        before = state.outputs.get(name, {}).get("value") if name in state.outputs else None
        if isinstance(before, dict):
            from mlform.engine.state.sensitive import unmask  # a stored digest of the same value
            before = unmask(before, v)
        sensitive = o.sensitive or ctx.refs_sensitive(o.value)
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


__all__ = ["PlanOptions", "make_plan", "outside_targets", "plan_instance", "final_plan", "resource_dependencies", "target_closure",
           "UNKNOWN"]
