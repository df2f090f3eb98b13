"""The ``mlform policy test`` command's arguments (engine/cli/main.py registers it on the policy
app); the work is in :mod:`mlform.engine.commands.policy_test`, imported when it runs."""

from __future__ import annotations

from pathlib import Path

import typer

from mlform.engine.cli import common as C
from mlform.engine.cli import options as O

DIRS = typer.Argument(None, metavar="DIR", show_default=False,
                      help="Folders (or files) of *.policytest.json fixtures; default: the project directory "
                           "and its policy sets' folders.")
JSON = typer.Option(False, "--json", help="Print each case's result and policy results as JSON.")


def policy_test(dirs: list[Path] = DIRS, json_out: bool = JSON, rego: list[Path] = O.REGO,
                namespace: list[str] = O.NAMESPACE, all_namespaces: bool = O.ALL_NAMESPACES) -> None:
    """Run the policies on fixture plans and compare with the expected outcomes."""
    from mlform.engine.cli.main import session
    from mlform.engine.commands.policy_test import run_policy_test

    raise C.Exit(run_policy_test(session(), list(dirs or []), json_out, rego, namespace, all_namespaces))


__all__ = ["policy_test"]
