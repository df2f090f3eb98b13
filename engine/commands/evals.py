"""eval: run suites now and print a table (a view over :meth:`mlform.engine.core.Core.run_suites`)."""

from __future__ import annotations

import json
import sys

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render


def run_eval(s: C.Session, suites: list[str], var: list[str], var_file: list[str], json_out: bool) -> int:
    """``mlform eval [SUITE...]``: plan the suites' targets and run them now."""
    from mlform.engine.cli.progress import make_progress
    from mlform.engine.commands.planning import PlanFlags
    from mlform.engine.core import Core

    cfg, _ = C.load(s)
    _, missing = Core(cfg).suite_addresses(suites)
    if missing.has_errors:
        s.fail(missing)
    core = Core(cfg, C.state_manager(s, cfg))
    progress = make_progress(s.color, sys.stderr)  # a live bar on a terminal; a log gets a few lines per suite
    res = core.run_suites(suites, PlanFlags(lock=False, vars=var, var_files=var_file).options(), progress=progress,
                          suite_done=progress.close, planned=lambda d: render(d, s.sources, s.color))
    if res.plan is None:
        s.fail(res.diagnostics)
    if res.diagnostics:
        render(res.diagnostics, s.sources, s.color)
    if json_out:
        sys.stdout.write(json.dumps([r.to_json() for r in res.results], indent=2) + "\n")
    elif res.results:
        from rich.console import Console

        from mlform.engine.eval import render_table
        Console(no_color=not s.color, width=120).print(render_table(res.results))
    return 1 if res.failed else 0
