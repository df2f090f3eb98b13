"""eval: run suites now and print a table."""

from __future__ import annotations

from mlform.engine.cli import common as C


def run_eval(s: C.Session, suites: list[str], var: list[str], var_file: list[str], json_out: bool) -> int:
    try:
        from mlform.providers.builtin.run_suite import run_eval_command
    except ImportError:
        from mlform.engine.diagnostics import Diagnostics, error
        s.fail(Diagnostics([error("Evaluations are not available", "This build has no eval runner.")]))
    return run_eval_command(s, suites, var, var_file, json_out)
