"""The engine core: every operation on one project, as Terraform's ``terraform.Context``.

A :class:`Core` is built from a loaded configuration and a state manager;
``Core.open(directory)`` loads both. Each operation returns a result with
its :class:`~mlform.engine.diagnostics.Diagnostics` and never prints or
exits; progress goes to the callbacks given. The commands in
``engine/commands`` parse flags, call one of these, and render the result.

The core owns what the operations share:

* **one graph**: the configuration's dependency graph, built (and checked
  for cycles) once per core, walked by validate and plan; apply walks the
  same dependencies expanded to a plan's changes;
* **one walker**: :func:`mlform.engine.graph.walk.walk` (inline for
  evaluation, a thread pool for apply);
* **the evaluation context** of each operation (:class:`EvalContext`:
  variables, locals, resource values) and **the provider manager**
  configured from it, closed when the operation ends;
* placing diagnostics at their source
  (:func:`mlform.engine.diagnostics.attach_to_source`).

Locking is the caller's: an operation that writes state expects the
caller to hold the lock (``core.state.lock(...)`` / ``core.state.locked(...)``).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources
from mlform.engine.core.results import (
    ApplyResult, ImportResult, PlanResult, RecoverResult, RefreshResult, SuitesResult, ValidateResult,
)
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, did_you_mean, error
from mlform.engine.graph.digraph import DiGraph
from mlform.engine.plan.context import EvalContext, base_address
from mlform.engine.plan.model import Plan
from mlform.engine.plan.planner import PlanOptions, make_plan
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.state.manager import StateManager

Progress = Callable[[str, str], None]  # (address, message)


def _quiet(address: str, message: str) -> None:
    return None


def _default_rollout_runner(cfg: Config) -> Callable[..., Any] | None:
    try:
        from mlform.engine.rollout.controller import run_rollout
    except ImportError:
        return None
    return lambda *a: run_rollout(cfg, *a)


def import_target_check(cfg: Config, address: str) -> Diagnostics:
    """Whether ``address`` can be imported into: its block must be declared."""
    if base_address(address) in cfg.resources:
        return Diagnostics()
    return Diagnostics([error("Configuration for import target does not exist",
                              f"Declare {base_address(address)} in the configuration before importing into it.")])


class Core:
    """Validate, plan, apply, refresh, import, recover and run suites for one configuration."""

    def __init__(self, cfg: Config, state: StateManager | None = None, *,
                 rollout_runner: Callable[..., Any] | None | bool = True) -> None:
        self.cfg = cfg
        self._state = state
        self.directory: Path = cfg.directory
        # True: the rollout controller; None/False: an update with a rollout is applied in place.
        self._rollout_runner = _default_rollout_runner(cfg) if rollout_runner is True else (rollout_runner or None)
        self._graph: tuple[DiGraph, Diagnostics] | None = None

    @classmethod
    def open(cls, directory: Path, *, use_cache: bool = True, check_init: bool = True
             ) -> tuple[Core | None, Diagnostics]:
        """Load the configuration in ``directory`` and open its backend's state."""
        from mlform.engine.config.decode import load_config
        from mlform.engine.core.project import open_state

        cfg, d = load_config(directory, use_cache=use_cache)
        if cfg is None or d.has_errors:
            return None, d
        mgr, sd = open_state(directory, cfg, check_init=check_init)
        d.extend(sd)
        if mgr is None:
            return None, d
        return cls(cfg, mgr), d

    @property
    def state(self) -> StateManager:
        """The state manager (a core made without one can only validate and check policies)."""
        if self._state is None:
            raise DiagnosticsError(error("No state", "This operation needs the project's state; "
                                         "make the core with Core.open(directory) or give it a StateManager."))
        return self._state

    # --- the one graph ----------------------------------------------------------
    def graph(self) -> tuple[DiGraph, Diagnostics]:
        """The configuration's dependency graph and its diagnostics (a cycle), built once."""
        if self._graph is None:
            from mlform.engine.graph.build import build_graph
            self._graph = build_graph(self.cfg)
        return self._graph

    def _providers(self, ctx: EvalContext) -> ProviderManager:
        return ProviderManager(self.cfg, self.directory, ctx.provider_config)

    # --- validate -----------------------------------------------------------------
    def validate(self) -> ValidateResult:
        """Everything that can be checked without configuring a provider or reading state."""
        g, gd = self.graph()
        d = Diagnostics(gd)
        if d.has_errors:
            return ValidateResult(d)
        from mlform.engine.core.validate import validate_graph
        d.extend(validate_graph(self.cfg, g))
        return ValidateResult(d)

    # --- plan ---------------------------------------------------------------------
    def plan(self, opts: PlanOptions | None = None, *, overrides: list[str] | None = None) -> PlanResult:
        """A plan against the current state, with the configuration's policies evaluated
        (``overrides``: soft-mandatory policies to override)."""
        opts = opts or PlanOptions()
        g, gd = self.graph()
        if gd.has_errors:
            return PlanResult(None, Diagnostics(gd))
        ctx = EvalContext(self.cfg)
        pm = self._providers(ctx)
        try:
            plan, d, ctx_out = make_plan(self.cfg, self.state.load(), opts, pm, graph=g, context=ctx)
        finally:
            pm.close()
        d = Diagnostics([*gd, *d])
        if plan is None or d.has_errors:
            return PlanResult(None, d, ctx_out)
        if self.cfg.policies or overrides:  # (building the policy view costs O(changes))
            d.extend(self.check_policies(plan, overrides or []))
        return PlanResult(plan, d, ctx_out)

    def check_policies(self, plan: Plan, overrides: list[str]) -> Diagnostics:
        """Evaluate the configuration's policies on ``plan`` (sets ``plan.policy_results``)."""
        from mlform.engine.policy.evaluate import evaluate_policies

        results, pd = evaluate_policies(self.cfg, plan, overrides)
        plan.policy_results = results
        return pd

    # --- saved plans ----------------------------------------------------------------
    def check_saved_plan(self, plan: Plan) -> Diagnostics:
        """Whether ``plan`` (read from a file) still applies: same configuration, same state."""
        if plan.config_digest != self.cfg.digest:
            return Diagnostics([error("Saved plan is stale", "The configuration changed since this plan was made. "
                                      "Run `mlform plan --out FILE` again.")])
        state = self.state.load()
        lineage = state.lineage if state.serial else None
        serial = state.serial if state.serial else None
        if plan.prior_lineage != lineage or plan.prior_serial != serial:
            then = "there was no state" if plan.prior_serial is None else f"the state was at serial {plan.prior_serial}"
            now = "there is no state" if serial is None else f"the state is at serial {serial}"
            if lineage is not None and plan.prior_lineage is not None and lineage != plan.prior_lineage:
                now += f" of another lineage ({lineage}; the plan's is {plan.prior_lineage})"
            return Diagnostics([error("Saved plan is stale",
                                      f"The state changed since this plan was made: then {then}, now {now}. "
                                      "Run `mlform plan --out FILE` again.")])
        return Diagnostics()

    def context_for(self, plan: Plan) -> tuple[EvalContext, Diagnostics]:
        """An evaluation context for applying a saved ``plan``: its variables, the locals evaluated."""
        ctx = EvalContext(self.cfg)
        if not isinstance(plan.variables, dict):  # sealed with a good digest, but not by mlform
            return ctx, Diagnostics([error("Saved plan is corrupt or was modified",
                                           "Its variables are not a map of names to values. "
                                           "Create a new plan with `mlform plan --out FILE`.")])
        d = ctx.load_variables(VarSources(), fixed=plan.variables)
        if not d.has_errors:
            for name in self.cfg.locals:
                try:
                    ctx.eval_local(name)
                except DiagnosticsError:
                    pass
        return ctx, d

    # --- apply ----------------------------------------------------------------------
    def apply(self, plan: Plan, context: EvalContext | None = None, *, parallelism: int = 10,
              progress: Progress = _quiet, plan_digest: str | None = None, who: str | None = None) -> ApplyResult:
        """Carry out ``plan`` (the caller holds the lock). ``context``: the one the plan was made
        in; a saved plan gets a new one. A refresh-only plan writes the refreshed state."""
        if plan.mode == "refresh-only":
            self.write_refreshed(plan)
            return ApplyResult(plan, Diagnostics())
        if not plan.has_changes:
            return ApplyResult(plan, Diagnostics())
        if context is None:
            context, d = self.context_for(plan)
            if d.has_errors:
                return ApplyResult(plan, d)
        from mlform.engine.apply.applier import apply_plan
        from mlform.engine.core.identity import whoami

        pm = self._providers(context)
        try:
            outcome = apply_plan(self.cfg, plan, context, self.state, pm, parallelism=parallelism,
                                 progress=progress, who=whoami() if who is None else who, plan_digest=plan_digest,
                                 rollout_runner=self._rollout_runner,
                                 operation="destroy" if plan.mode == "destroy" else "apply")
        finally:
            pm.close()
        return ApplyResult(plan, outcome.diagnostics, outcome)

    # --- refresh ----------------------------------------------------------------------
    def refresh(self, opts: PlanOptions | None = None) -> RefreshResult:
        """Read every recorded object back and record what its provider says (caller holds the lock)."""
        opts = opts or PlanOptions()
        opts.mode = "refresh-only"
        res = self.plan(opts)
        if res.plan is None:
            return RefreshResult(None, res.diagnostics)
        self.write_refreshed(res.plan)
        return RefreshResult(res.plan, res.diagnostics)

    def write_refreshed(self, plan: Plan) -> None:
        """Write a refresh-only plan's refreshed state: objects gone outside mlform are forgotten."""
        from mlform.engine.state.model import ResourceState

        state = self.state.load()
        refreshed = {r["address"]: r for r in (plan.refreshed_state or {}).get("resources", [])}
        state.resources = [ResourceState(**refreshed[r.address]) for r in state.resources if r.address in refreshed]
        self.state.write_full(state)

    # --- import ------------------------------------------------------------------------
    def import_resource(self, address: str, id_: str, var_sources: VarSources | None = None) -> ImportResult:
        """Adopt the existing object ``id_`` as ``address`` (the caller holds the lock).

        The provider is configured from its block, as for a plan (variables from ``var_sources``)."""
        import json

        from mlform.engine.providers.protocol import ImportResourceRequest
        from mlform.engine.state.model import ResourceState

        d = import_target_check(self.cfg, address)
        if d.has_errors:
            return ImportResult(None, d)
        decl = self.cfg.resources[base_address(address)]
        st = self.state.load()
        if st.get(address) is not None:
            return ImportResult(None, Diagnostics([error("Resource already managed",
                                                         f"{address} is already in the state.")]))
        ctx = EvalContext(self.cfg)
        vd = ctx.load_variables(var_sources or VarSources())
        if vd.has_errors:
            return ImportResult(None, vd)
        pm = self._providers(ctx)
        try:
            resp = pm.get(decl.provider_key).import_resource(ImportResourceRequest(decl.kind, address, id_))
        except DiagnosticsError as e:
            return ImportResult(None, e.diagnostics)
        finally:
            pm.close()
        if resp.diagnostics.has_errors or resp.state is None:
            return ImportResult(None, resp.diagnostics)
        key = None
        if "[" in address:
            inner = address[address.index("[") + 1:-1]
            key = json.loads(inner) if inner.startswith('"') else int(inner)
        rs = ResourceState(address=address, kind=decl.kind, name=decl.name, index_key=key,
                           provider=decl.provider_key, attributes=resp.state)
        st.put(rs)
        self.state.write_full(st)
        return ImportResult(rs, resp.diagnostics)

    # --- recover -----------------------------------------------------------------------
    def recover(self, var_sources: VarSources | None = None, fixed: dict[str, Any] | None = None,
                progress: Progress = _quiet) -> RecoverResult:
        """Adopt or close the pending operations of a killed run (the caller holds the lock).

        A run killed between a provider call and the record of its outcome
        leaves an *intent* in state; its object may exist. This must happen
        before a plan is made, or the plan would create that resource a
        second time. ``fixed``: a saved plan's variables. Writes state only
        when there was something to recover. An error means a provider could
        not look: the intents stay pending and the next command tries again.
        """
        mgr = self.state
        if not mgr.pending_intents():
            if mgr.backend.journal_read() is not None:
                # A killed run's journal with nothing left to resolve: compact it
                # now (the state written is the one every reader already sees).
                mgr.begin("recover")
                mgr.commit()
            return RecoverResult(Diagnostics())
        # the applier (thread pool, walker) is imported only when there is something to recover
        from mlform.engine.apply.applier import recover_orphans

        ctx = EvalContext(self.cfg)
        vd = ctx.load_variables(var_sources or VarSources(), fixed=fixed) if fixed is not None \
            else ctx.load_variables(var_sources or VarSources())
        if vd.has_errors:
            return RecoverResult(vd)
        pm = self._providers(ctx)
        d = Diagnostics()
        try:
            mgr.begin("recover")
            try:
                recover_orphans(mgr, pm, d, progress)
            finally:
                mgr.commit()
        finally:
            pm.close()
        return RecoverResult(d, recovered=True)

    # --- eval suites -----------------------------------------------------------------------
    def suite_addresses(self, names: list[str]) -> tuple[list[str], Diagnostics]:
        """``names`` (``x`` or ``eval_suite.x``; every suite when empty) as addresses, checked."""
        suites = [a for a in self.cfg.resources if a.startswith("eval_suite.")]
        addrs = [x if x.startswith("eval_suite.") else f"eval_suite.{x}" for x in names] or suites
        missing = [n for n in addrs if base_address(n) not in self.cfg.resources]
        return addrs, Diagnostics([error(f'No eval suite "{m}"', "It is not declared." + did_you_mean(m, suites))
                                   for m in missing])

    def run_suites(self, names: list[str], opts: PlanOptions | None = None, *, progress: Progress = _quiet,
                   suite_done: Callable[[], None] | None = None,
                   planned: Callable[[Diagnostics], None] | None = None) -> SuitesResult:
        """Run eval suites now (``mlform eval``): plan their targets (no refresh) and run each.

        ``planned`` receives the plan's diagnostics (warnings, policies) before any suite runs;
        ``suite_done`` is called after each suite (a progress display closes its bar)."""
        from mlform.engine.rollout.suites import run_config

        addrs, d = self.suite_addresses(names)
        if d.has_errors:
            return SuitesResult([], d, failed=True)
        opts = opts or PlanOptions()
        opts.targets, opts.refresh = addrs, False
        res = self.plan(opts)
        if res.plan is None:
            return SuitesResult([], res.diagnostics, failed=True)
        if planned is not None:
            planned(res.diagnostics)
        else:
            d.extend(res.diagnostics)
        results: list[Any] = []
        failed = False
        for ch in res.plan.changes:
            if ch.kind != "eval_suite" or base_address(ch.address) not in addrs:
                continue
            conf = dict(ch.after or {})
            conf["address"] = ch.address
            try:
                result, sd = run_config(ch.address, conf, self.directory, target_digest=conf.get("target_digest"),
                                        progress=functools.partial(progress, ch.address))
            finally:
                if suite_done is not None:
                    suite_done()
            d.extend(sd)
            if result is None:
                failed = True
                continue
            results.append(result)
            failed = failed or not result.passed
        return SuitesResult(results, d, failed, res.plan)


__all__ = ["Core", "PlanOptions", "Progress", "import_target_check"]
