"""Running suites for eval_suite resources and for ``mlform eval``."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.rollout.suites import run_config, summary


def run_for_state(project_dir: Path, planned: dict[str, Any], progress: Callable[..., None]
                  ) -> tuple[dict[str, Any] | None, Diagnostics]:
    """Run the suite in ``planned``; returns {results, passed, failure} or None."""
    planned = dict(planned)
    address = str(planned.pop("address", "eval_suite"))
    result, d = run_config(address, planned, project_dir,
                           target_digest=planned.get("target_digest"), progress=lambda m: progress(m))
    if result is None:
        return None, d
    res = result.to_json()
    return {"results": res, "passed": bool(result.passed), "failure": summary(result)}, d


def run_eval_command(s: Any, suites: list[str], var: list[str], var_file: list[str], json_out: bool) -> int:
    """``mlform eval [SUITE...]``: plan the suites' targets and run them now."""
    from rich.console import Console

    from mlform.engine.cli import common as C
    from mlform.engine.commands.planning import PlanFlags, plan_command_core
    from mlform.engine.eval import render_table

    cfg, _ = C.load(s)
    names = [x if x.startswith("eval_suite.") else f"eval_suite.{x}" for x in suites] or \
        [a for a in cfg.resources if a.startswith("eval_suite.")]
    missing = [n for n in names if n.split("[")[0] not in cfg.resources]
    if missing:
        from mlform.engine.diagnostics import did_you_mean, error
        s.fail(Diagnostics([error(f'No eval suite "{m}"', "It is not declared."
                                  + did_you_mean(m, [a for a in cfg.resources if a.startswith("eval_suite.")]))
                            for m in missing]))
    plan, _ = plan_command_core(s, cfg, PlanFlags(lock=False, vars=var, var_files=var_file,
                                                  targets=names, refresh=False))
    from mlform.engine.cli.progress import make_progress

    results = []
    failed = False
    diags = Diagnostics()
    progress = make_progress(s.color, sys.stderr)  # a live bar on a terminal; a log gets a few lines per suite
    for ch in plan.changes:
        if ch.kind != "eval_suite" or ch.address.split("[")[0] not in names:
            continue
        conf = dict(ch.after or {})
        conf["address"] = ch.address
        try:
            result, d = run_config(ch.address, conf, cfg.directory, target_digest=conf.get("target_digest"),
                                   progress=functools.partial(progress, ch.address))
        finally:
            progress.close()
        diags.extend(d)
        if result is None:
            failed = True
            continue
        results.append(result)
        failed = failed or not result.passed
    if diags:
        from mlform.engine.cli.diagnostics import render
        render(diags, s.sources, s.color)
    if json_out:
        sys.stdout.write(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    elif results:
        Console(no_color=not s.color, width=120).print(render_table(results))
    return 1 if failed else 0
