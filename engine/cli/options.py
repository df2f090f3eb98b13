"""The flags and arguments of the ``mlform`` commands, each with its help text.

Declared once here so that a flag shared by several commands (``--var``,
``--lock-timeout``, ...) reads the same in every ``--help``. A flag that
takes a value names it (``--out FILE``); a boolean flag shows none.
``--refresh`` and ``--lock`` are flag pairs (``--no-refresh``); Terraform's
``--refresh=false`` spelling is rewritten to the pair before parsing (see
:mod:`mlform.engine.cli.argv`).
"""

from __future__ import annotations

from typing import Any

import typer


def flag(name: str, help: str, *aliases: str, default: bool = False, **kw: Any) -> Any:
    """A boolean flag (``--json``, ``--refresh/--no-refresh``): it takes no value."""
    return typer.Option(default, name, *aliases, help=help, **kw)


def _json(what: str) -> Any:
    return flag("--json", f"Print {what} as JSON instead of text.")


# --- global ----------------------------------------------------------------------------------
CHDIR = typer.Option(None, "--chdir", metavar="DIR",
                     help="Switch to DIR before anything else: read its configuration and resolve relative "
                          "paths there. Give it before the command.")
NO_COLOR = flag("--no-color", "Plain output, without ANSI colours (also when NO_COLOR is set).")

# --- plan / apply / destroy / refresh --------------------------------------------------------
OUT = typer.Option(None, "--out", metavar="FILE", help="Save the plan to FILE; `mlform apply FILE` carries it out.")
DETAILED_EXITCODE = flag("--detailed-exitcode", "Exit 2 when the plan has changes, 0 when it has none.")
TARGET = typer.Option([], "--target", metavar="ADDR", help="Plan only ADDR and what it depends on (repeatable).")
REPLACE = typer.Option([], "--replace", metavar="ADDR",
                       help="Replace ADDR even if it has not changed (repeatable).")
REFRESH_ONLY = flag("--refresh-only", "Only update the state to match the real objects.")
DESTROY = flag("--destroy", "Plan to destroy everything in the state.")
REFRESH = flag("--refresh/--no-refresh", "Read every recorded object from its provider first (the default). "
               "--refresh=false or --no-refresh trusts the state as recorded.", default=True, show_default=False)
LOCK = flag("--lock/--no-lock", "Lock the state while running (the default). "
            "--lock=false or --no-lock does not lock it.", default=True, show_default=False)
LOCK_TIMEOUT = typer.Option("0s", "--lock-timeout", metavar="DURATION",
                            help="Wait up to DURATION (500ms, 30s, 2m) for another run's lock.")
VAR = typer.Option([], "--var", metavar="NAME=VALUE",
                   help="Set a variable; VALUE is read as the variable's type (repeatable).")
VAR_FILE = typer.Option([], "--var-file", metavar="FILE",
                        help="Read variables from an HCL file of name = value lines (repeatable).")
OVERRIDE_POLICY = typer.Option([], "--override-policy", metavar="NAME",
                               help="Let the failing soft-mandatory policy NAME through (repeatable).")
REASON = typer.Option(None, "--reason", metavar="TEXT",
                      help="Why the --override-policy policies are let through (recorded in plan JSON and history).")
POLICY_JSON = _json("the policy results")
REGO = typer.Option([], "--rego", metavar="DIR",
                    help="Also evaluate the conftest-style Rego policies in DIR (repeatable; needs mlform[rego]).")
NAMESPACE = typer.Option([], "--namespace", metavar="NS",
                         help="The Rego package whose rules --rego evaluates (repeatable; default: main).")
POLICY_MARKDOWN = flag("--markdown", "Print the plan as `show --markdown` does, with these policy results.")
ALL_NAMESPACES = flag("--all-namespaces", "Evaluate the rules of every Rego package --rego loads.")
AUTO_APPROVE = flag("--auto-approve", "Apply without asking for `yes`.")
PARALLELISM = typer.Option(10, "--parallelism", metavar="N", help="Run at most N resource operations at once.")
PLAN_JSON = _json("the plan, as `show --json` does,")
PLANFILE = typer.Argument(None, metavar="PLANFILE", help="A plan saved by `mlform plan --out`.", show_default=False)

# --- other commands --------------------------------------------------------------------------
VALIDATE_JSON = _json("the diagnostics")
FMT_CHECK = flag("--check", "Change nothing; exit 1 if a file is not formatted.")
FMT_DIFF = flag("--diff", "Print a unified diff of the changes.")
GRAPH_PLAN = flag("--plan", "Label nodes with their planned actions.")
SHOW_JSON = _json("the state or the saved plan")
SHOW_MARKDOWN = flag("--markdown", "Print the saved plan as a pull-request comment (with --json: the data it is "
                     "made from).")
OUTPUT_JSON = _json("the outputs")
OUTPUT_RAW = flag("--raw", "Print one string, number or bool as it is, without quotes or newline.")
EVAL_JSON = _json("the results")
FORCE_UNLOCK = flag("--force", "Unlock without asking for `yes`.")
MIGRATE_STATE = flag("--migrate-state", "Copy the state to a changed backend.")
FORCE_COPY = flag("--force-copy", "Migrate the state without asking.")
RECONFIGURE = flag("--reconfigure", "Use a changed backend as it is, copying nothing.")
PUSH_FORCE = flag("--force", "Push even if the lineage differs or the serial is older than the current state's.")
VERSION_JSON = _json("the versions")
SCHEMA_JSON = _json("the schemas (required: there is no text form)")
