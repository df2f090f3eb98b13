"""apply, destroy, refresh: carry out a plan with progress and approval (views over
:meth:`mlform.engine.core.Core.plan` and :meth:`~mlform.engine.core.Core.apply`)."""

from __future__ import annotations

import sys
from pathlib import Path

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.planning import PlanFlags, check_reason, plan_command_core, policy_blocked
from mlform.engine.commands.recovery import recover_interrupted
from mlform.engine.core import Core
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine.plan.model import Plan
from mlform.engine.plan.render import render_plan
from mlform.engine.state.lock import OP_APPLY


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
        check_reason(s, flags.overrides, flags.reason)
    cfg, _ = C.load(s)
    mgr = C.state_manager(s, cfg)
    core = Core(cfg, mgr)
    if flags.lock:
        mgr.lock(OP_APPLY, C.parse_duration(flags.lock_timeout))
    try:
        digest = None
        if planfile is not None:
            plan, digest = read_plan(s.resolve(planfile))
            if flags.lock:  # a recovery that changes state makes the plan stale, as it should
                recover_interrupted(s, cfg, mgr, fixed=plan.variables)
            stale = core.check_saved_plan(plan)
            if stale:
                s.fail(stale)
            ctx, vd = core.context_for(plan)
            if vd.has_errors:
                s.fail(vd)
            if flags.overrides:  # a plan refused at review, let through at apply (recorded in history)
                from mlform.engine.commands.policy_cmds import recheck_saved
                render(recheck_saved(cfg, plan, flags.overrides, flags.reason), s.sources, s.color)
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
            core.apply(plan, ctx)  # writes the refreshed state
            sys.stdout.write(f"\nRefresh complete: {len(plan.drift)} object(s) changed outside of mlform.\n")
            return C.EXIT_OK
        if not plan.has_changes:
            return C.EXIT_OK
        if planfile is None and not _approve(plan, auto, plan.mode == "destroy"):
            sys.stdout.write("\nApply cancelled.\n")
            return C.EXIT_ERROR
        sys.stdout.write("\n")
        from mlform.engine.cli.progress import make_progress
        progress = make_progress(s.color)  # rich bars on a terminal, plain lines otherwise
        from mlform.engine.core import interrupt
        try:  # Ctrl-C / SIGTERM: the first stops safely, the second at once
            with interrupt.handling(release_lock=mgr.unlock if flags.lock else None):
                res = core.apply(plan, ctx, parallelism=parallelism, progress=progress, plan_digest=digest)
        finally:
            progress.close()
        if res.diagnostics:
            render(res.diagnostics, s.sources, s.color)
        if interrupt.requested():
            sys.stdout.write(f"\nApply interrupted. {res.added} added, {res.changed} changed, {res.destroyed} "
                             "destroyed; operations not started are left for the next apply, and state records "
                             "every completed step.\n")
            return interrupt.exit_code()
        if res.failed:
            sys.stdout.write(f"\nApply failed. {res.added} added, {res.changed} changed, {res.destroyed} destroyed "
                             "before the failure; state records every completed step.\n")
            return C.EXIT_ERROR
        word = "Destroy" if plan.mode == "destroy" else "Apply"
        sys.stdout.write(f"\n{word} complete! Resources: {res.added} added, {res.changed} changed, "
                         f"{res.destroyed} destroyed.\n")
        if res.outputs:
            from mlform.engine.plan.values import outputs_text
            sys.stdout.write("\nOutputs:\n\n" + outputs_text(res.outputs))
        return C.EXIT_OK
    finally:
        mgr.unlock()
