"""plan and policy check: views over :meth:`mlform.engine.core.Core.plan`."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.recovery import recover_interrupted
from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources
from mlform.engine.core import Core, PlanOptions, PlanResult
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine.plan.context import EvalContext
from mlform.engine.plan.model import Plan
from mlform.engine.state.lock import OP_PLAN


@dataclass
class PlanFlags:
    targets: list[str] = field(default_factory=list)
    replace: list[str] = field(default_factory=list)
    refresh_only: bool = False
    destroy: bool = False
    refresh: bool = True
    vars: list[str] = field(default_factory=list)
    var_files: list[str] = field(default_factory=list)
    lock: bool = True
    lock_timeout: str = "0s"
    overrides: list[str] = field(default_factory=list)
    reason: str | None = None  # why the overrides are given (--reason)

    def options(self) -> PlanOptions:
        src = VarSources([("file", f) for f in self.var_files] + [("var", v) for v in self.vars])
        mode = "destroy" if self.destroy else ("refresh-only" if self.refresh_only else "normal")
        return PlanOptions(mode=mode, targets=self.targets, replace=self.replace, refresh=self.refresh,
                           var_sources=src)


def plan_command_core(s: C.Session, cfg: Config, flags: PlanFlags, mgr: Any = None
                      ) -> tuple[Plan, EvalContext]:
    """Plan with the state from ``mgr`` (locking is the caller's job). Exits on errors."""
    check_reason(s, flags.overrides, flags.reason)
    core = Core(cfg, mgr or C.state_manager(s, cfg))
    res = core.plan(flags.options(), overrides=flags.overrides)
    if res.plan is None or res.context is None:
        s.fail(res.diagnostics)
    render(res.diagnostics, s.sources, s.color)  # warnings, then what the policies said
    give_reason(res.plan, flags.reason)
    return res.plan, res.context


def check_reason(s: C.Session, overrides: list[str], reason: str | None) -> None:
    """--reason explains --override-policy: alone, or empty, it is a mistake."""
    from mlform.engine.diagnostics import error
    if reason is not None and not overrides:
        s.fail(Diagnostics([error("--reason needs --override-policy",
                                  "--reason records why a failing soft-mandatory policy is let through; name the "
                                  "policy with --override-policy NAME.")]))
    if reason is not None and not reason.strip():
        s.fail(Diagnostics([error("Empty --reason", "Say why the policy is overridden: --reason \"...\".")]))


def give_reason(plan: Plan, reason: str | None, only: list[str] | None = None) -> None:
    """Record ``reason`` on each overridden result (of the policies in ``only``) that has none yet."""
    for r in plan.policy_results:
        if r.overridden and r.override_reason is None and (only is None or r.policy in only):
            r.override_reason = reason


def policy_blocked(plan: Plan) -> bool:
    return PlanResult(plan, Diagnostics()).policy_blocked


def run_plan(s: C.Session, flags: PlanFlags, out: Path | None, detailed: bool, json_out: bool) -> int:
    from mlform.engine.plan.json_view import plan_json
    from mlform.engine.plan.planfile import save_plan
    from mlform.engine.plan.render import render_plan

    if out is not None:
        check_out_path(s, out)  # before planning: a plan that cannot be saved is time lost
    cfg, _ = C.load(s)
    mgr = C.state_manager(s, cfg)
    if flags.lock:
        mgr.lock(OP_PLAN, C.parse_duration(flags.lock_timeout))
    try:
        if flags.lock:
            recover_interrupted(s, cfg, mgr, flags.options().var_sources)
        plan, _ = plan_command_core(s, cfg, flags, mgr)
    finally:
        if flags.lock:
            mgr.unlock()
    if json_out:
        sys.stdout.write(json.dumps(plan_json(plan, cfg), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("\n" + render_plan(plan, s.color))
    if out is not None:
        try:
            note = save_plan(plan, s.resolve(out))
        except OSError as exc:
            s.fail(Diagnostics([error("Failed to write plan file", f"--out {out}: {exc.strerror or exc}. "
                                      "The plan was not saved; fix the path and run plan again.")]))
        if not json_out:
            sys.stdout.write(f"\nSaved the plan to: {out}{note}\n\nTo perform exactly these actions, run:\n"
                             f"  mlform apply {out}\n")
    if policy_blocked(plan):
        return C.EXIT_POLICY
    if detailed and plan.has_changes:
        return C.EXIT_CHANGES
    return C.EXIT_OK


def check_out_path(s: C.Session, out: Path) -> None:
    """Fail, naming --out, when a plan cannot be written at ``out``."""
    where = s.resolve(out)
    why = ""
    try:
        if "\0" in str(out):
            why = "the path contains a NUL byte, which no file name can hold"
        elif where.is_dir():
            why = "that is a directory; name a file in it, e.g. --out " + str(out / "mlform.plan")
        elif not where.parent.exists():
            why = f"the directory {where.parent} does not exist; create it first"
        elif not where.parent.is_dir():
            why = f"{where.parent} is not a directory"
    except OSError as exc:  # a name too long, a loop of links
        why = (exc.strerror or str(exc)).lower()
    if why:
        s.fail(Diagnostics([error("Invalid --out path", f"Cannot write the plan to {out}: {why}.")]))


__all__ = ["PlanFlags", "check_out_path", "check_reason", "give_reason", "plan_command_core", "run_plan", "Diagnostics"]
