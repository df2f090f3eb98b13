"""mlform policy check: the policies' results for a saved or a fresh plan (docs/policies.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.planning import PlanFlags, check_reason, give_reason, plan_command_core, policy_blocked
from mlform.engine.core import Core
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError
from mlform.engine.plan.model import Plan


def recheck_saved(cfg: Any, plan: Plan, overrides: list[str], reason: str | None) -> Diagnostics:
    """Evaluate the policies again on a saved plan with ``overrides`` added to those it was saved
    with; a new override gets ``reason``, one made at plan time keeps its own."""
    kept = {r.policy: r.override_reason for r in plan.policy_results if r.overridden}
    d = Core(cfg).check_policies(plan, sorted(set(overrides) | set(kept)))
    for r in plan.policy_results:
        if r.overridden and r.policy in kept:
            r.override_reason = kept[r.policy]
    give_reason(plan, reason, only=overrides)
    return d


def results_json(plan: Plan) -> dict[str, Any]:
    """``policy check --json``: every result and whether the plan may be applied."""
    from mlform.engine.plan.json_view import policy_results_json

    res = policy_results_json(plan)
    failed = [r for r in res if not r["passed"]]
    return {
        "format_version": "1.0",
        "allowed": not policy_blocked(plan),
        "counts": {"passed": len(res) - len(failed),
                   "failed": sum(1 for r in failed if r["enforcement"] != "advisory" and not r["overridden"]),
                   "overridden": sum(1 for r in failed if r["overridden"]),
                   "warned": sum(1 for r in failed if r["enforcement"] == "advisory")},
        "policy_results": res,
    }


def run_policy_check(s: C.Session, planfile: Path | None, overrides: list[str], reason: str | None = None,
                     json_out: bool = False, rego_dirs: list[Path] | None = None,
                     namespaces: list[str] | None = None, all_namespaces: bool = False,
                     markdown: bool = False) -> int:
    from mlform.engine.plan.planfile import read_plan
    from mlform.engine.plan.render import policy_lines

    check_reason(s, overrides, reason)
    cfg, _ = C.load(s)
    if planfile is not None:
        try:
            plan, _ = read_plan(s.resolve(planfile))
        except DiagnosticsError as e:
            s.fail(e)
        render(recheck_saved(cfg, plan, overrides, reason), s.sources, s.color)
    else:
        plan, _ = plan_command_core(s, cfg, PlanFlags(lock=False, overrides=overrides, reason=reason))
    if rego_dirs:
        from mlform.engine.policy.rego import evaluate_rego_dirs

        results, d, texts = evaluate_rego_dirs(plan, cfg, [s.resolve(p) for p in rego_dirs], overrides,
                                               None if all_namespaces else (namespaces or ["main"]), Path.cwd())
        s.sources.update(texts)
        plan.policy_results += results
        give_reason(plan, reason, only=overrides)
        if d.has_errors and not results:
            s.fail(d)
        render(d, s.sources, s.color)
    if markdown:  # the pull-request comment, with every result (the Rego ones too)
        from mlform.engine.plan.render import render_plan
        from mlform.engine.plan.review import render_markdown, review_data
        sys.stdout.write(render_markdown(review_data(plan, render_plan(plan, False))))
    elif json_out:
        sys.stdout.write(json.dumps(results_json(plan), indent=2, sort_keys=True) + "\n")
    else:
        lines = policy_lines(plan, s.color)
        sys.stdout.write("\n".join(lines) + "\n" if lines else "No policies.\n")
    return C.EXIT_POLICY if policy_blocked(plan) else C.EXIT_OK


__all__ = ["recheck_saved", "results_json", "run_policy_check"]
