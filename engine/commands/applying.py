"""apply, destroy, refresh: carry out a plan with progress and approval."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from mlform.engine.apply.applier import apply_plan
from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.planning import PlanFlags, plan_command_core, policy_blocked
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine.core.identity import whoami
from mlform.engine.plan.context import EvalContext
from mlform.engine.plan.model import Plan
from mlform.engine.plan.render import render_plan
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.state.lock import OP_APPLY
from mlform.engine.state.model import ResourceState


class Progress:
    """Prints one line per resource event, with elapsed time (thread-safe)."""

    def __init__(self, color: bool) -> None:
        self.color = color
        self.t0: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, address: str, message: str) -> None:
        with self.lock:
            now = time.monotonic()
            start = self.t0.setdefault(address, now)
            suffix = f" [{now - start:.1f}s]" if message in ("Complete", "Failed") else ""
            if message == "Complete":
                message = "Complete"
            b, r = ("\x1b[1m", "\x1b[0m") if self.color else ("", "")
            sys.stdout.write(f"{b}{address}{r}: {message}{suffix}\n")
            sys.stdout.flush()


def _approve(plan: Plan, auto: bool, destroy: bool) -> bool:
    if auto:
        return True
    if not sys.stdin.isatty():
        raise DiagnosticsError(error("No terminal to ask for approval",
                                     "mlform apply needs `yes` typed at a terminal. In CI, run "
                                     "`mlform plan --out plan.mlf` and `mlform apply plan.mlf`, or pass --auto-approve."))
    what = "destroy all resources" if destroy else "perform these actions"
    sys.stdout.write(f"\nDo you want to {what}?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
    sys.stdout.flush()
    return sys.stdin.readline().strip() == "yes"


def _check_saved(s: C.Session, plan: Plan, cfg: Any, state: Any) -> None:
    if plan.config_digest != cfg.digest:
        s.fail(Diagnostics([error("Saved plan is stale", "The configuration changed since this plan was made. "
                                  "Run `mlform plan --out FILE` again.")]))
    lineage = state.lineage if state.serial else None
    serial = state.serial if state.serial else None
    if plan.prior_lineage != lineage or plan.prior_serial != serial:
        then = "there was no state" if plan.prior_serial is None else f"the state was at serial {plan.prior_serial}"
        now = "there is no state" if serial is None else f"the state is at serial {serial}"
        if lineage is not None and plan.prior_lineage is not None and lineage != plan.prior_lineage:
            now += f" of another lineage ({lineage}; the plan's is {plan.prior_lineage})"
        s.fail(Diagnostics([error("Saved plan is stale",
                                  f"The state changed since this plan was made: then {then}, now {now}. "
                                  "Run `mlform plan --out FILE` again.")]))


def _context_for_saved(s: C.Session, cfg: Any, plan: Plan) -> EvalContext:
    ctx = EvalContext(cfg)
    from mlform.engine.config.variables import VarSources
    d = ctx.load_variables(VarSources(), fixed=plan.variables)
    if d.has_errors:
        s.fail(d)
    for name in cfg.locals:
        try:
            ctx.eval_local(name)
        except DiagnosticsError:
            pass
    return ctx


def _check_saved_flags(s: C.Session, flags: PlanFlags) -> None:
    """A saved plan is applied exactly: options that would change it are refused (as Terraform does)."""
    d = Diagnostics()
    if flags.vars or flags.var_files:
        d.append(error("Can't set variables when applying a saved plan",
                       "The --var and --var-file options cannot be used with a saved plan file, because the plan "
                       "holds the variable values it was made with. Make a new plan with these values "
                       "(`mlform plan --var ... --out FILE`) and apply that."))
    given = [f for f, on in (("--target", flags.targets), ("--replace", flags.replace),
                             ("--destroy", flags.destroy), ("--refresh-only", flags.refresh_only),
                             ("--refresh=false", not flags.refresh)) if on]
    if given:
        d.append(error("Can't change planning options when applying a saved plan",
                       f"{', '.join(given)} shape{'s' if len(given) == 1 else ''} a plan, but a saved plan is "
                       "applied exactly as it was made. Pass these options to `mlform plan --out FILE` instead."))
    if d:
        s.fail(d)


def run_apply(s: C.Session, flags: PlanFlags, planfile: Path | None, auto: bool, parallelism: int) -> int:
    from mlform.engine.plan.planfile import read_plan

    if planfile is not None:
        _check_saved_flags(s, flags)
    cfg, _ = C.load(s)
    mgr = C.state_manager(s, cfg)
    if flags.lock:
        mgr.lock(OP_APPLY, C.parse_duration(flags.lock_timeout))
    try:
        from mlform.engine.commands.recovery import recover_interrupted
        digest = None
        if planfile is not None:
            plan, digest = read_plan(s.resolve(planfile))
            if flags.lock:  # a recovery that changes state makes the plan stale, as it should
                recover_interrupted(s, cfg, mgr, fixed=plan.variables)
            state = mgr.load()
            _check_saved(s, plan, cfg, state)
            ctx = _context_for_saved(s, cfg, plan)
            sys.stdout.write(render_plan(plan, s.color))
        else:
            if flags.lock:
                recover_interrupted(s, cfg, mgr, flags.options().var_sources)
            plan, ctx = plan_command_core(s, cfg, flags, mgr)
            sys.stdout.write("\n" + render_plan(plan, s.color))
        if policy_blocked(plan):
            sys.stdout.write("\nApply refused by policy.\n")
            return C.EXIT_POLICY
        if plan.mode == "refresh-only":
            return _apply_refresh(s, plan, mgr)
        if not plan.has_changes:
            return C.EXIT_OK
        if planfile is None and not _approve(plan, auto, plan.mode == "destroy"):
            sys.stdout.write("\nApply cancelled.\n")
            return C.EXIT_ERROR
        sys.stdout.write("\n")
        pm = ProviderManager(cfg, cfg.directory, ctx.provider_config)
        runner = _rollout_runner(cfg)
        from mlform.engine.cli.progress import make_progress
        progress = make_progress(s.color)  # rich bars on a terminal, plain lines otherwise
        try:
            outcome = apply_plan(cfg, plan, ctx, mgr, pm, parallelism=parallelism, progress=progress,
                                 who=whoami(), plan_digest=digest, rollout_runner=runner,
                                 operation="destroy" if plan.mode == "destroy" else "apply")
        finally:
            progress.close()
            pm.close()
        if outcome.diagnostics:
            render(outcome.diagnostics, s.sources, s.color)
        add = sum(1 for c in plan.changes if c.address in outcome.applied and c.action in ("create", "replace"))
        chg = sum(1 for c in plan.changes if c.address in outcome.applied and c.action == "update")
        dst = sum(1 for c in plan.changes if c.address in outcome.applied and c.action in ("delete", "replace"))
        if outcome.failed or outcome.diagnostics.has_errors:
            sys.stdout.write(f"\nApply failed. {add} added, {chg} changed, {dst} destroyed before the failure; "
                             "state records every completed step.\n")
            return C.EXIT_ERROR
        word = "Destroy" if plan.mode == "destroy" else "Apply"
        sys.stdout.write(f"\n{word} complete! Resources: {add} added, {chg} changed, {dst} destroyed.\n")
        outs = {k: v for k, v in outcome.state.outputs.items()}
        if outs:
            from mlform.engine.plan.values import outputs_text
            sys.stdout.write("\nOutputs:\n\n" + outputs_text(outs))
        return C.EXIT_OK
    finally:
        mgr.unlock()


def _rollout_runner(cfg: Any) -> Any:
    try:
        from mlform.engine.rollout.controller import run_rollout
    except ImportError:
        return None
    return lambda *a: run_rollout(cfg, *a)


def _apply_refresh(s: C.Session, plan: Plan, mgr: Any) -> int:
    state = mgr.load()
    refreshed = {r["address"]: r for r in (plan.refreshed_state or {}).get("resources", [])}
    state.resources = [ResourceState(**refreshed[r.address]) for r in state.resources if r.address in refreshed]
    mgr.write_full(state)
    sys.stdout.write(f"\nRefresh complete: {len(plan.drift)} object(s) changed outside of mlform.\n")
    return C.EXIT_OK
