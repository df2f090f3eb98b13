"""Carry out a plan: the one walker over the plan's instance graph, a provider call per node,
state recorded after each.

The instance graph (:func:`apply_graph`) is the configuration graph's
resource dependencies (each change's ``dependencies``) expanded to the
planned changes, with the deletes reversed (a delete waits for the deletes
of what depended on it). It is walked by :func:`mlform.engine.graph.walk.walk`
with up to ``parallelism`` provider calls at once.

Every provider call is preceded by an *intent* in the state journal and
followed by the recorded result, so a crash at any point loses nothing that
completed, and an object created but not yet recorded is found again (the
provider tags it with the address and operation ID; see
:func:`recover_orphans`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostic, Diagnostics, DiagnosticsError, attach_to_source, error
from mlform.engine.expr.eval import EvalError
from mlform.engine.expr.scope import evaluate
from mlform.engine.graph.digraph import DiGraph
from mlform.engine.graph.walk import graph_of, walk
from mlform.engine.plan.context import EvalContext, Instance, base_address
from mlform.engine.plan.instance import final_plan
from mlform.engine.plan.model import Plan, ResourceChange
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.providers.protocol import ApplyChangeRequest, FindOrphansRequest, ReadRequest
from mlform.engine.state.manager import StateManager, new_operation_id
from mlform.engine.state.model import HistoryRecord, ResourceState, State, now_iso
from mlform.engine.values import UNKNOWN, contains_unknown, unknown_paths


@dataclass
class ApplyOutcome:
    state: State
    diagnostics: Diagnostics
    applied: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    history: HistoryRecord | None = None


Progress = Callable[[str, str], None]  # (address, message)


def _no_progress(address: str, message: str) -> None:
    return None


def recover_orphans(mgr: StateManager, pm: ProviderManager, d: Diagnostics, progress: Progress) -> None:
    """Adopt objects a crashed run created but never recorded. Needs an open session."""
    for intent in mgr.pending_intents():
        try:
            prov = pm.get(intent.provider)
        except DiagnosticsError as e:
            d.extend(e.diagnostics)
            continue
        if intent.action == "delete":
            _recover_delete(mgr, prov, intent, d, progress)
            continue
        resp = prov.find_orphans(FindOrphansRequest(intent.kind, intent.address, intent.operation_id))
        d.extend(resp.diagnostics)
        if resp.diagnostics.has_errors:
            continue  # could not look: keep the intent for the next run
        if resp.state is not None:  # (deletes were recovered above)
            progress(intent.address, f"adopted an object left by an interrupted run (operation {intent.operation_id[:8]})")
            kind, name = base_address(intent.address).split(".", 1)
            mgr.record_put(ResourceState(address=intent.address, kind=kind, name=name, provider=intent.provider,
                                         attributes=resp.state, private=resp.private), done=intent.operation_id)
        else:
            mgr.record_done(intent.operation_id)


def _recover_delete(mgr: StateManager, prov: Any, intent: Any, d: Diagnostics, progress: Progress) -> None:
    """An interrupted delete: if the object is gone, so is its record."""
    recorded = mgr.snapshot().get(intent.address)
    if recorded is None:
        mgr.record_done(intent.operation_id)
        return
    rr = prov.read(ReadRequest(recorded.kind, recorded.address, recorded.attributes, recorded.private))
    d.extend(rr.diagnostics)
    if rr.diagnostics.has_errors:
        return  # could not look: keep the intent for the next run
    if rr.state is None:
        progress(intent.address, "removed from state: an interrupted run had destroyed it "
                                 f"(operation {intent.operation_id[:8]})")
        mgr.record_remove(intent.address, done=intent.operation_id)
    else:
        mgr.record_done(intent.operation_id)


def apply_graph(plan: Plan, state: State) -> DiGraph:
    """The nodes an apply of ``plan`` visits (every change but no-ops) and their order."""
    return graph_of(_edges(plan, state))


def _edges(plan: Plan, state: State) -> dict[str, set[str]]:
    active = {c.address: c for c in plan.changes if c.action != "no-op"}
    by_base: dict[str, list[str]] = {}
    for a in active:
        by_base.setdefault(base_address(a), []).append(a)
    deps: dict[str, set[str]] = {a: set() for a in active}
    for a, c in active.items():
        if c.action == "delete":
            continue
        for dep in c.dependencies:
            for x in by_base.get(dep, []):
                if active[x].action != "delete":
                    deps[a].add(x)
    # A delete waits for the deletes of everything that depended on it.
    recorded = {r.address: r for r in state.resources}
    for a, c in active.items():
        if c.action not in ("delete",):
            continue
        for b, other in active.items():
            if other.action in ("delete", "replace") and b != a:
                rs = recorded.get(b)
                odeps = set(rs.dependencies) if rs else set(other.dependencies)
                if base_address(a) in odeps:
                    deps[a].add(b)
    return deps


def apply_plan(cfg: Config, plan: Plan, ctx: EvalContext, mgr: StateManager, pm: ProviderManager, *,
               parallelism: int = 10, progress: Progress = _no_progress, who: str = "",
               plan_digest: str | None = None, operation: str = "apply",
               rollout_runner: Callable[..., Any] | None = None) -> ApplyOutcome:
    """Apply ``plan``. The caller holds the state lock. Never raises for user errors."""
    d = Diagnostics()
    state = mgr.begin(operation)
    history = HistoryRecord(who=who, operation=operation, plan_digest=plan_digest, outcome="in_progress",
                            policy_overrides=policy_overrides(plan, who))
    mgr.record_history(history)
    recover_orphans(mgr, pm, d, progress)
    ctx_lock = threading.Lock()
    changes = {c.address: c for c in plan.changes}
    for c in plan.changes:  # the scope sees every instance as planned
        if c.action != "delete" and c.after is not None:
            _set_value(ctx, cfg, c, c.after)
    graph = apply_graph(plan, state)
    results: dict[str, dict[str, Any]] = {}

    def visit(addr: str) -> bool:
        ch = changes[addr]
        t0 = time.monotonic()
        try:
            ok = _apply_one(cfg, ch, ctx, ctx_lock, mgr, pm, d, progress, rollout_runner, history)
        except DiagnosticsError as e:
            with ctx_lock:
                d.extend(attach_to_source(x, cfg, addr, x.attribute_path) for x in e.diagnostics)
            ok = False
        except Exception as e:  # a provider bug: report, keep going with the rest
            with ctx_lock:
                d.append(error(f"Provider error while applying {addr}", f"{type(e).__name__}: {e}",
                               address=addr))
            if __import__("os").environ.get("MLFORM_DEBUG") == "1":
                raise
            ok = False
        results[addr] = {"address": addr, "action": ch.action, "ok": ok,
                         "seconds": round(time.monotonic() - t0, 3)}
        return ok

    from mlform.engine.core import interrupt  # Ctrl-C: nothing new starts, what runs finishes

    wr = walk(graph, visit, parallelism=parallelism, stop=interrupt.event())
    for n, cause in sorted(wr.skipped.items()):
        progress(n, "not started: interrupted" if cause == "interrupted" else f"skipped because {cause} failed")
    from mlform.engine.rollout.rejections import reject_blocked  # a blocked version: state keeps the serving one
    kept = reject_blocked(changes, wr.done, wr.failed, wr.skipped, results, mgr, history,
                          lambda c, v: _set_value(ctx, cfg, c, v), progress)
    wr.done = [a for a in wr.done if a not in kept]
    # outputs
    outputs: dict[str, Any] = {}
    if plan.mode == "normal":
        planned = {o.name for o in plan.output_changes}
        for name, o in cfg.outputs.items():
            if plan.targets and name not in planned:  # outside the targets: left as recorded
                if name in state.outputs:
                    outputs[name] = state.outputs[name]
                continue
            try:
                with ctx_lock:
                    v = evaluate(o.value, ctx.scope())
            except EvalError as e:
                if not wr.failed:
                    d.extend(e.diagnostics)
                continue
            if contains_unknown(v):
                continue
            outputs[name] = {"value": v, "sensitive": o.sensitive or ctx.refs_sensitive(o.value)}
        mgr.set_outputs(outputs)
    elif plan.mode == "destroy":
        mgr.set_outputs({})
    history.changes = [results[a] | {"digest": _digest_of(changes[a])} for a in sorted(results)]
    history.outcome = "succeeded" if not wr.failed and not wr.skipped else ("partial" if wr.done else "failed")
    mgr.record_history(history)
    try:
        final = mgr.commit()
    except DiagnosticsError as e:
        # The state could not be written (it went to the errored file): say so, after
        # what went wrong with the resources themselves, which would be lost otherwise.
        e.diagnostics = Diagnostics([*d, *e.diagnostics])
        raise
    return ApplyOutcome(final, d, wr.done, wr.failed, wr.skipped, history)


def policy_overrides(plan: Plan, who: str) -> list[dict[str, Any]]:
    """The soft-mandatory policies ``plan`` let through with --override-policy, as history records them."""
    when = now_iso()
    out: dict[str, dict[str, Any]] = {}
    for r in plan.policy_results:
        if not r.overridden:
            continue
        entry = out.setdefault(r.policy, {"policy": r.policy, "enforcement": r.enforcement, "addresses": [],
                                          "message": r.message, "reason": r.override_reason,
                                          "who": who, "when": when})
        if r.address is not None:
            entry["addresses"].append(r.address)
    return [out[k] for k in sorted(out)]


def _digest_of(ch: ResourceChange) -> Any:
    a = ch.after or {}
    for k in ("digest", "active_model_digest", "version"):
        v = a.get(k)
        if v is not None and v is not UNKNOWN:
            return v
    return None


def _set_value(ctx: EvalContext, cfg: Config, ch: ResourceChange, value: dict[str, Any]) -> None:
    decl = cfg.resources.get(base_address(ch.address))
    if decl is None:
        return
    ctx.set_instance_value(Instance(decl, ch.index_key, ch.address), value, ch.sensitive_paths)


def _apply_one(cfg: Config, ch: ResourceChange, ctx: EvalContext, lock: threading.Lock, mgr: StateManager,
               pm: ProviderManager, d: Diagnostics, progress: Progress, rollout_runner: Callable[..., Any] | None,
               history: HistoryRecord) -> bool:
    prov = pm.get(ch.provider)
    local = Diagnostics()
    if ch.action != "delete" and contains_unknown(ch.config):
        with lock:
            new = final_plan(cfg, ctx, ch, pm, local)
        if new is None:
            with lock:
                d.extend(local)
            return False
        ch = new
    kind, name = ch.kind, ch.name

    def report(message: str, *, fraction: float | None = None) -> None:
        progress(ch.address, message)

    bugged: set[str] = set()  # operations whose result the provider left partly unknown

    def call(action: str, prior: Any, planned: Any) -> Any:
        op = new_operation_id()
        mgr.record_intent(ch.address, op, action, kind=kind, provider=ch.provider)  # type: ignore[arg-type]
        private = ch.private if prior is not None else {}  # a replacement's create: a new object
        resp = prov.apply_change(ApplyChangeRequest(kind, ch.address, action, prior, planned,  # type: ignore[arg-type]
                                                    ch.config, op, private, report))
        for x in resp.diagnostics:
            local.append(attach_to_source(x, cfg, ch.address, x.attribute_path))
        if resp.new_state is not None and contains_unknown(resp.new_state):
            # Never record an unknown: keep what is known, tainted, so the
            # next plan replaces the object, and fail this resource.
            resp.new_state = _reject_unknown(ch, resp.new_state, resp.diagnostics, cfg)
            bugged.add(op)
            for x in resp.diagnostics:
                if x not in local:
                    local.append(x)
        return op, resp

    def record(new_state: dict[str, Any] | None, op: str, private: dict[str, Any], status: str = "ready") -> None:
        if new_state is None:
            mgr.record_remove(ch.address, done=op)
            return
        mgr.record_put(ResourceState(
            address=ch.address, kind=kind, name=name, index_key=ch.index_key, provider=ch.provider,
            attributes=new_state, sensitive_paths=ch.sensitive_paths, dependencies=ch.dependencies,
            private=private, status=status), done=op)  # type: ignore[arg-type]

    ok = True
    if ch.action == "update" and ch.rollout and rollout_runner is not None and kind == "endpoint":
        new_state, rok = rollout_runner(ch, prov, mgr, local, report, history)
        if new_state is not None:
            op = new_operation_id()
            mgr.record_intent(ch.address, op, "update", kind=kind, provider=ch.provider)
            record(new_state, op, ch.private)
        ok = rok and not local.has_errors
    elif ch.action in ("create", "update"):
        report("Creating..." if ch.action == "create" else "Modifying...")
        op, resp = call(ch.action, ch.before, ch.after)
        if resp.new_state is not None:
            # A failed create that produced an object is kept, tainted.
            record(resp.new_state, op, resp.private, "tainted" if resp.diagnostics.has_errors and
                   (ch.action == "create" or op in bugged) and kind != "eval_suite" else "ready")
        elif ch.action == "create":
            mgr.record_done(op)
        else:
            mgr.record_done(op)
        ok = not resp.diagnostics.has_errors
        if kind == "eval_suite" and resp.new_state is not None:
            from mlform.engine.rollout.suites import history_entry
            entry = history_entry(ch.address, ch.before, resp.new_state)
            if entry is not None:
                with lock:  # the lineage trail: which results each model/prompt version got
                    history.eval_results.append(entry)
        if ok:
            with lock:
                _set_value(ctx, cfg, ch, resp.new_state or {})
            _check_consistent(ch, resp.new_state or {}, local, cfg)
            ok = not local.has_errors
    elif ch.action == "delete":
        report("Destroying...")
        op, resp = call("delete", ch.before, None)
        ok = not resp.diagnostics.has_errors
        if ok:
            record(None, op, {})
        else:
            mgr.record_done(op)
    elif ch.action == "replace":
        steps = [("create", None, ch.after), ("delete", ch.before, None)] if ch.create_before_destroy \
            else [("delete", ch.before, None), ("create", None, ch.after)]
        created: dict[str, Any] | None = None  # the replacement (new_state is the rollout branch's)
        for action, prior, planned in steps:
            report("Destroying..." if action == "delete" else "Creating...")
            op, resp = call(action, prior, planned)
            if resp.diagnostics.has_errors:
                ok = False
                if action == "delete" or resp.new_state is None:
                    mgr.record_done(op)
                else:
                    record(resp.new_state, op, resp.private, "tainted")
                break
            if action == "create":
                created = resp.new_state
                record(created, op, resp.private)
            elif not ch.create_before_destroy:
                record(None, op, {})
            else:
                mgr.record_done(op)
        if ok and created is not None:
            with lock:
                _set_value(ctx, cfg, ch, created)
    with lock:
        d.extend(local)
    report("Complete" if ok else "Failed")
    return ok


def _reject_unknown(ch: ResourceChange, new: dict[str, Any], d: Diagnostics, cfg: Config) -> dict[str, Any]:
    """Add the provider-bug error for each unknown in ``new``; return ``new`` without them."""
    decl = cfg.resources.get(base_address(ch.address))
    for path in unknown_paths(new):
        shown = ".".join(str(p) for p in path)
        d.append(error(f'Provider returned an unknown value for "{shown}" after apply',
                       f'The provider "{ch.provider}" left "{shown}" of {ch.address} unknown after it applied the '
                       "change; every value must be known once an object exists, so this is a bug in the "
                       "provider. The object was recorded without that value and marked tainted, so the next "
                       "apply replaces it; report the bug to the provider's authors.",
                       decl.rng if decl else None, address=ch.address))
    return _strip_unknown(new)  # type: ignore[no-any-return]


def _strip_unknown(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_unknown(x) for k, x in v.items() if x is not UNKNOWN}
    if isinstance(v, list):
        return [None if x is UNKNOWN else _strip_unknown(x) for x in v]
    return v


def _check_consistent(ch: ResourceChange, new: dict[str, Any], d: Diagnostics, cfg: Config) -> None:
    """Known planned values must come back as planned (Terraform's rule)."""
    for k, v in (ch.after or {}).items():
        if v is UNKNOWN or contains_unknown(v) or k not in new:
            continue
        if new[k] != v and not (isinstance(v, (int, float)) and isinstance(new[k], (int, float)) and
                                float(v) == float(new[k])):
            decl = cfg.resources.get(base_address(ch.address))
            d.append(Diagnostic(error("", "").severity,
                                "Provider produced inconsistent result after apply",
                                f'{ch.address}: "{k}" was planned as {v!r} but the provider returned {new[k]!r}. '
                                "This is a bug in the provider; the object was recorded as returned.",
                                decl.rng if decl else None, address=ch.address))
            return
