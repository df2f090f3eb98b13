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

    def options(self) -> PlanOptions:
        src = VarSources([("file", f) for f in self.var_files] + [("var", v) for v in self.vars])
        mode = "destroy" if self.destroy else ("refresh-only" if self.refresh_only else "normal")
        return PlanOptions(mode=mode, targets=self.targets, replace=self.replace, refresh=self.refresh,
                           var_sources=src)


def plan_command_core(s: C.Session, cfg: Config, flags: PlanFlags, mgr: Any = None
                      ) -> tuple[Plan, EvalContext]:
    """Plan with the state from ``mgr`` (locking is the caller's job). Exits on errors."""
    core = Core(cfg, mgr or C.state_manager(s, cfg))
    res = core.plan(flags.options(), overrides=flags.overrides)
    if res.plan is None or res.context is None:
        s.fail(res.diagnostics)
    render(res.diagnostics, s.sources, s.color)  # warnings, then what the policies said
    return res.plan, res.context


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


def run_policy_check(s: C.Session, planfile: Path | None, overrides: list[str]) -> int:
    from mlform.engine.plan.planfile import read_plan
    from mlform.engine.plan.render import render_plan

    cfg, _ = C.load(s)
    if planfile is not None:
        try:
            plan, _ = read_plan(s.resolve(planfile))
        except DiagnosticsError as e:
            s.fail(e)
        render(Core(cfg).check_policies(plan, overrides), s.sources, s.color)
    else:
        plan, _ = plan_command_core(s, cfg, PlanFlags(lock=False, overrides=overrides))
    text = render_plan(plan, s.color)
    sys.stdout.write(text[text.find("Policy checks:"):] if "Policy checks:" in text else "No policies.\n")
    return C.EXIT_POLICY if policy_blocked(plan) else C.EXIT_OK


__all__ = ["PlanFlags", "check_out_path", "plan_command_core", "run_plan", "run_policy_check", "Diagnostics"]
