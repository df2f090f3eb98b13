"""The ``mlform`` command line (docs/cli.md)."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Optional

# pydantic scans every installed distribution for plugins when it builds its
# first model (~20 ms per command); mlform uses none. Setting the variable
# (even empty) keeps a user's own choice.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
# A command allocates ~10^5 long-lived objects (AST, state, plan) and almost no
# cyclic garbage; CPython's default thresholds (700, 10, 10) re-scan them again
# and again: ~20% of a 5,000-resource plan. Collections still run, less often.
gc.set_threshold(100_000, 50, 100)

import typer  # noqa: E402

from mlform.engine.cli import common as C  # noqa: E402
from mlform.engine.cli import options as O  # noqa: E402
from mlform.engine.cli.diagnostics import render, to_json  # noqa: E402
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="mlform: declarative infrastructure for ML and LLM systems.")
state_app = typer.Typer(no_args_is_help=True, help="State inspection and surgery.")
policy_app = typer.Typer(no_args_is_help=True, help="Policy as code.")
app.add_typer(state_app, name="state")
app.add_typer(policy_app, name="policy")
providers_app = typer.Typer(invoke_without_command=True, help="The providers the configuration uses (a tree of "
                            "provider, version and resources); `providers schema --json` prints every installed "
                            "provider's schema.")
app.add_typer(providers_app, name="providers")

_G: dict[str, Any] = {"chdir": None, "no_color": False}


def _print_version(value: bool) -> None:
    if value:
        from mlform.engine.commands.version import run_version
        raise C.Exit(run_version(False))


@app.callback()
def _root(chdir: Optional[Path] = O.CHDIR, no_color: bool = O.NO_COLOR,
          _version: bool = O.flag("--version", "Print the versions (as `mlform version`) and exit.", "-v",
                                  is_eager=True, callback=_print_version)) -> None:
    _G["chdir"], _G["no_color"] = chdir, no_color


def session() -> C.Session:
    d = Path(_G["chdir"] or ".").resolve()
    if not d.is_dir():
        render([error("No such directory", f"--chdir {d} does not exist.")])
        raise C.Exit(1)
    return C.Session(d, C.use_color(_G["no_color"]), {})


def echo(text: str = "", err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + ("\n" if not text.endswith("\n") else ""))


# --- validate / fmt / graph ------------------------------------------------------

@app.command()
def validate(json_out: bool = O.VALIDATE_JSON) -> None:
    """Static checks of the configuration; no provider is called."""
    from mlform.engine.commands.validate import run_validate

    s = session()
    diags = run_validate(s)
    if json_out:
        echo(to_json(diags))
    else:
        render(diags, s.sources, s.color)
        if not diags.has_errors:
            echo("Success! The configuration is valid.")
    raise C.Exit(1 if diags.has_errors else 0)


@app.command()
def fmt(check: bool = O.FMT_CHECK, diff: bool = O.FMT_DIFF) -> None:
    """Rewrite *.mlf.hcl files in canonical format."""
    from mlform.engine.commands.fmt import run_fmt

    raise C.Exit(run_fmt(session(), check, diff))


@app.command()
def graph(plan: bool = O.GRAPH_PLAN) -> None:
    """Print the dependency graph in DOT."""
    from mlform.engine.graph.build import build_graph, to_dot

    s = session()
    cfg, _ = C.load(s)
    g, d = build_graph(cfg)
    if d.has_errors:
        s.fail(d)
    actions = None
    if plan:
        from mlform.engine.commands.planning import plan_command_core, PlanFlags
        p, _ = plan_command_core(s, cfg, PlanFlags(lock=False))
        actions = {c.address.split("[")[0]: c.symbol for c in p.changes if c.action != "no-op"}
    echo(to_dot(g, actions))
    raise C.Exit(0)


# --- plan / apply / destroy ----------------------------------------------------------

def _flags(**kw: Any) -> Any:
    from mlform.engine.commands.planning import PlanFlags
    return PlanFlags(**kw)


def _paths(s: C.Session, paths: list[str]) -> list[str]:
    """--var-file paths, relative to the project directory (see Session.resolve)."""
    return [str(s.resolve(Path(p))) for p in paths]


@app.command()
def plan(out: Optional[Path] = O.OUT, detailed_exitcode: bool = O.DETAILED_EXITCODE,
         target: list[str] = O.TARGET, replace: list[str] = O.REPLACE,
         refresh_only: bool = O.REFRESH_ONLY, destroy: bool = O.DESTROY, refresh: bool = O.REFRESH,
         var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE, json_out: bool = O.PLAN_JSON,
         lock: bool = O.LOCK, lock_timeout: str = O.LOCK_TIMEOUT,
         override_policy: list[str] = O.OVERRIDE_POLICY, reason: Optional[str] = O.REASON) -> None:
    """Refresh, diff, estimate, and evaluate policies."""
    from mlform.engine.commands.planning import run_plan

    s = session()
    s.json_diagnostics = json_out
    try:
        flags = _flags(targets=target, replace=replace, refresh_only=refresh_only, destroy=destroy,
                       refresh=refresh, vars=var, var_files=_paths(s, var_file),
                       lock=lock, lock_timeout=lock_timeout, overrides=override_policy, reason=reason)
        code = run_plan(s, flags, out, detailed_exitcode, json_out)
    except DiagnosticsError as e:
        s.fail(e)
    raise C.Exit(code)


@app.command()
def apply(planfile: Optional[Path] = O.PLANFILE, auto_approve: bool = O.AUTO_APPROVE,
          target: list[str] = O.TARGET, replace: list[str] = O.REPLACE,
          refresh_only: bool = O.REFRESH_ONLY, destroy: bool = O.DESTROY, refresh: bool = O.REFRESH,
          var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE,
          lock: bool = O.LOCK, lock_timeout: str = O.LOCK_TIMEOUT, parallelism: int = O.PARALLELISM,
          override_policy: list[str] = O.OVERRIDE_POLICY, reason: Optional[str] = O.REASON) -> None:
    """Apply a saved plan exactly, or plan and ask for approval."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(targets=target, replace=replace, refresh_only=refresh_only, destroy=destroy,
                   refresh=refresh, vars=var, var_files=_paths(s, var_file),
                   lock=lock, lock_timeout=lock_timeout, overrides=override_policy, reason=reason)
    raise C.Exit(run_apply(s, flags, planfile, auto_approve, parallelism))


@app.command()
def destroy(auto_approve: bool = O.AUTO_APPROVE, target: list[str] = O.TARGET,
            var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE,
            lock_timeout: str = O.LOCK_TIMEOUT, parallelism: int = O.PARALLELISM) -> None:
    """Destroy everything this configuration manages."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(targets=target, destroy=True, vars=var, var_files=_paths(s, var_file), lock_timeout=lock_timeout)
    raise C.Exit(run_apply(s, flags, None, auto_approve, parallelism))


@app.command()
def refresh(var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE, lock_timeout: str = O.LOCK_TIMEOUT) -> None:
    """Update state from the providers (drift)."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(refresh_only=True, vars=var, var_files=_paths(s, var_file), lock_timeout=lock_timeout)
    raise C.Exit(run_apply(s, flags, None, True, 1))


@app.command()
def show(planfile: Optional[Path] = O.PLANFILE, json_out: bool = O.SHOW_JSON,
         markdown: bool = O.SHOW_MARKDOWN) -> None:
    """Show state, or a saved plan."""
    from mlform.engine.commands.inspect import run_show

    raise C.Exit(run_show(session(), planfile, json_out, markdown))


@app.command()
def output(name: Optional[str] = typer.Argument(None, help="One output; all when omitted.", show_default=False),
           json_out: bool = O.OUTPUT_JSON, raw: bool = O.OUTPUT_RAW) -> None:
    """Print outputs from state."""
    from mlform.engine.commands.inspect import run_output

    raise C.Exit(run_output(session(), name, json_out, raw))


@app.command("force-unlock")
def force_unlock(lock_id: str = typer.Argument(..., metavar="LOCK_ID",
                                               help="The ID in the `Error acquiring the state lock` message."),
                 force: bool = O.FORCE_UNLOCK) -> None:
    """Release a stuck state lock (asks for `yes` unless --force)."""
    s = session()
    cfg, _ = C.load(s)
    mgr = C.state_manager(s, cfg)
    holder = mgr.current_lock()
    if holder is None or holder.id != lock_id:
        mgr.force_unlock(lock_id)  # raises the diagnostic naming the actual holder, if any
    if not force:
        if not sys.stdin.isatty():
            s.fail(Diagnostics([error("No terminal to confirm force-unlock",
                                      f"Removing lock {lock_id} lets other commands write the state even if its "
                                      "holder is still running. Check that the holder is gone, then run "
                                      f"`mlform force-unlock --force {lock_id}`.")]))
        sys.stdout.write("Do you really want to force-unlock?\n  mlform will remove the lock on the state. This "
                         "will allow other commands to modify it, even though it may still be in use.\n  Only "
                         "'yes' will be accepted to confirm.\n\n  Enter a value: ")
        sys.stdout.flush()
        if sys.stdin.readline().strip() != "yes":
            echo("force-unlock cancelled.")
            raise C.Exit(1)
    mgr.force_unlock(lock_id)
    echo(f"mlform state has been successfully unlocked (lock {lock_id}).")
    raise C.Exit(0)


@app.command()
def init(migrate_state: bool = O.MIGRATE_STATE, force_copy: bool = O.FORCE_COPY,
         reconfigure: bool = O.RECONFIGURE, lock_timeout: str = O.LOCK_TIMEOUT) -> None:
    """Check providers and backend; create .mlform/; migrate state when the backend changed."""
    from mlform.engine.commands.init_cmd import run_init

    raise C.Exit(run_init(session(), migrate_state, force_copy, reconfigure, lock_timeout))


@app.command("import")
def import_(address: str = typer.Argument(..., metavar="ADDR",
                                          help="Where in the state: a resource the configuration declares."),
            id: str = typer.Argument(..., metavar="ID", help="The provider's ID of the existing object."),
            var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE) -> None:
    """Adopt an existing provider object into state."""
    from mlform.engine.commands.state_cmds import run_import

    s = session()
    raise C.Exit(run_import(s, address, id, var, _paths(s, var_file)))


@app.command("eval")
def eval_(suites: list[str] = typer.Argument(None, metavar="SUITE", help="Suites to run; all when omitted.",
                                             show_default=False),
          var: list[str] = O.VAR, var_file: list[str] = O.VAR_FILE, json_out: bool = O.EVAL_JSON) -> None:
    """Run eval suites now and print results."""
    from mlform.engine.commands.evals import run_eval

    s = session()
    raise C.Exit(run_eval(s, suites or [], var, _paths(s, var_file), json_out))


@app.command()
def version(json_out: bool = O.VERSION_JSON) -> None:
    """Print mlform's version, Python's, and each installed provider's."""
    from mlform.engine.commands.version import run_version

    raise C.Exit(run_version(json_out))


@providers_app.callback()
def providers(ctx: typer.Context) -> None:
    """Show the providers the configuration requires, with their versions and the resources each serves."""
    if ctx.invoked_subcommand is None:
        from mlform.engine.commands.providers_cmd import run_providers
        raise C.Exit(run_providers(session()))


@providers_app.command("schema")
def providers_schema(json_out: bool = O.SCHEMA_JSON) -> None:
    """Print every installed provider's schema (its block, and each kind's attributes) as JSON."""
    from mlform.engine.commands.providers_cmd import run_providers_schema
    raise C.Exit(run_providers_schema(session(), json_out))


# --- state ---------------------------------------------------------------------------

_ADDR = "A resource address (model.m, endpoint.e[\"eu\"])."


@state_app.command("list")
def state_list(addresses: list[str] = typer.Argument(None, metavar="ADDR", show_default=False,
                                                     help="Only these addresses, their instances, or glob matches.")
               ) -> None:
    """List the resources in the state."""
    from mlform.engine.commands.state_cmds import run_state_list
    raise C.Exit(run_state_list(session(), addresses or []))


@state_app.command("show")
def state_show(address: str = typer.Argument(..., metavar="ADDR", help=_ADDR)) -> None:
    """Show one resource's recorded attributes."""
    from mlform.engine.commands.state_cmds import run_state_show
    raise C.Exit(run_state_show(session(), address))


@state_app.command("mv")
def state_mv(source: str = typer.Argument(..., metavar="SRC", help="The address it has now."),
             dest: str = typer.Argument(..., metavar="DST", help="The address it moves to.")) -> None:
    """Move a resource to another address in the state."""
    from mlform.engine.commands.state_cmds import run_state_mv
    raise C.Exit(run_state_mv(session(), source, dest))


@state_app.command("rm")
def state_rm(addresses: list[str] = typer.Argument(..., metavar="ADDR", help="Resources to forget.")) -> None:
    """Forget resources without destroying them."""
    from mlform.engine.commands.state_cmds import run_state_rm
    raise C.Exit(run_state_rm(session(), addresses))


@state_app.command("pull")
def state_pull() -> None:
    """Print the state document on stdout."""
    from mlform.engine.commands.state_cmds import run_state_pull
    raise C.Exit(run_state_pull(session()))


@state_app.command("push")
def state_push(path: Path = typer.Argument(..., metavar="FILE", help="A state document (as `state pull` prints)."),
               force: bool = O.PUSH_FORCE) -> None:
    """Replace the state with a document from a file."""
    from mlform.engine.commands.state_cmds import run_state_push
    raise C.Exit(run_state_push(session(), path, force))


@policy_app.command("check")
def policy_check(planfile: Optional[Path] = O.PLANFILE, override_policy: list[str] = O.OVERRIDE_POLICY,
                 reason: Optional[str] = O.REASON, json_out: bool = O.POLICY_JSON,
                 rego: list[Path] = O.REGO, namespace: list[str] = O.NAMESPACE,
                 all_namespaces: bool = O.ALL_NAMESPACES, markdown: bool = O.POLICY_MARKDOWN) -> None:
    """Evaluate policies against a plan."""
    from mlform.engine.commands.policy_cmds import run_policy_check
    raise C.Exit(run_policy_check(session(), planfile, override_policy, reason, json_out, rego, namespace,
                                  all_namespaces, markdown))


from mlform.engine.commands.policy_test_cli import policy_test  # noqa: E402 - its arguments are defined there
policy_app.command("test")(policy_test)
from mlform.engine.commands.hardware import hardware  # noqa: E402 - its arguments are defined there
app.command()(hardware)
from mlform.engine.commands.logs import logs  # noqa: E402 - its arguments are defined there
app.command()(logs)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes, never a traceback for users."""
    from mlform.engine.cli.argv import PROG, normalize, parser_exceptions, report_usage_error

    try:
        command = typer.main.get_command(app)
        args = normalize(command, list(sys.argv[1:] if argv is None else argv))
        command.main(args=args, prog_name=PROG, standalone_mode=False)
        return 0
    except C.Exit as e:
        return e.code
    except DiagnosticsError as e:
        render(e.diagnostics, None, C.use_color(False))
        from mlform.engine.diagnostics import PolicyRefused
        return 3 if isinstance(e, PolicyRefused) else 1
    except KeyboardInterrupt:
        sys.stderr.write("\nInterrupted. State records everything that completed; run the command again.\n")
        return 130
    except typer.Exit as e:  # click's own exits (--help)
        return int(e.exit_code or 0)
    except Exception as e:  # noqa: BLE001
        usage, aborts = parser_exceptions()
        if isinstance(e, usage):
            report_usage_error(e)
            return 1
        if isinstance(e, aborts):
            return 1
        if os.environ.get("MLFORM_DEBUG") == "1":
            traceback.print_exc()
        else:
            sys.stderr.write(f"\nError: internal error: {type(e).__name__}: {e}\n\n"
                             "  This is a bug in mlform. Run again with MLFORM_DEBUG=1 for a traceback, "
                             "and report it.\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["app", "main", "Diagnostics", "json", "time"]
