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
from mlform.engine.cli.diagnostics import render, to_json  # noqa: E402
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="mlform: declarative infrastructure for ML and LLM systems.")
state_app = typer.Typer(no_args_is_help=True, help="State inspection and surgery.")
policy_app = typer.Typer(no_args_is_help=True, help="Policy as code.")
app.add_typer(state_app, name="state")
app.add_typer(policy_app, name="policy")

_G: dict[str, Any] = {"chdir": None, "no_color": False}


@app.callback()
def _root(chdir: Optional[Path] = typer.Option(None, "--chdir", help="Run in DIR."),
          no_color: bool = typer.Option(False, "--no-color", help="Plain output.")) -> None:
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
def validate(json_out: bool = typer.Option(False, "--json")) -> None:
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
def fmt(check: bool = typer.Option(False, "--check"), diff: bool = typer.Option(False, "--diff")) -> None:
    """Rewrite *.mlf.hcl files in canonical format."""
    from mlform.engine.commands.fmt import run_fmt

    raise C.Exit(run_fmt(session(), check, diff))


@app.command()
def graph(plan: bool = typer.Option(False, "--plan", help="Label nodes with planned actions.")) -> None:
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


def _bool_option(name: str, value: str) -> bool:
    """``--refresh=false`` / ``--lock=false``: Terraform's boolean options take a value."""
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise DiagnosticsError(error(f"Invalid value for {name}", f'"{value}" is not a boolean. '
                                 f"Write {name}=true or {name}=false."))


_VAR = typer.Option([], "--var", help="NAME=VALUE (repeatable).")
_VARF = typer.Option([], "--var-file", help="HCL file of variable values (repeatable).")
_TGT = typer.Option([], "--target", help="Plan only ADDR and what it depends on.")
_RPL = typer.Option([], "--replace", help="Force replacement of ADDR.")
_OVR = typer.Option([], "--override-policy", help="Override a soft-mandatory policy.")


@app.command()
def plan(out: Optional[Path] = typer.Option(None, "--out"),
         detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode"),
         target: list[str] = _TGT, replace: list[str] = _RPL,
         refresh_only: bool = typer.Option(False, "--refresh-only"),
         destroy: bool = typer.Option(False, "--destroy"),
         refresh: str = typer.Option("true", "--refresh", metavar="BOOL", help="--refresh=false skips refreshing."),
         var: list[str] = _VAR, var_file: list[str] = _VARF,
         json_out: bool = typer.Option(False, "--json"),
         lock: str = typer.Option("true", "--lock", metavar="BOOL", help="--lock=false does not lock the state."),
         lock_timeout: str = typer.Option("0s", "--lock-timeout"),
         override_policy: list[str] = _OVR) -> None:
    """Refresh, diff, estimate, and evaluate policies."""
    from mlform.engine.commands.planning import run_plan

    s = session()
    s.json_diagnostics = json_out
    try:
        flags = _flags(targets=target, replace=replace, refresh_only=refresh_only, destroy=destroy,
                       refresh=_bool_option("--refresh", refresh), vars=var, var_files=_paths(s, var_file),
                       lock=_bool_option("--lock", lock), lock_timeout=lock_timeout, overrides=override_policy)
        code = run_plan(s, flags, out, detailed_exitcode, json_out)
    except DiagnosticsError as e:
        s.fail(e)
    raise C.Exit(code)


@app.command()
def apply(planfile: Optional[Path] = typer.Argument(None),
          auto_approve: bool = typer.Option(False, "--auto-approve"),
          target: list[str] = _TGT, replace: list[str] = _RPL,
          refresh_only: bool = typer.Option(False, "--refresh-only"),
          destroy: bool = typer.Option(False, "--destroy"),
          refresh: str = typer.Option("true", "--refresh", metavar="BOOL", help="--refresh=false skips refreshing."),
          var: list[str] = _VAR, var_file: list[str] = _VARF,
          lock: str = typer.Option("true", "--lock", metavar="BOOL", help="--lock=false does not lock the state."),
          lock_timeout: str = typer.Option("0s", "--lock-timeout"),
          parallelism: int = typer.Option(10, "--parallelism"),
          override_policy: list[str] = _OVR) -> None:
    """Apply a saved plan exactly, or plan and ask for approval."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(targets=target, replace=replace, refresh_only=refresh_only, destroy=destroy,
                   refresh=_bool_option("--refresh", refresh), vars=var, var_files=_paths(s, var_file),
                   lock=_bool_option("--lock", lock), lock_timeout=lock_timeout, overrides=override_policy)
    raise C.Exit(run_apply(s, flags, planfile, auto_approve, parallelism))


@app.command()
def destroy(auto_approve: bool = typer.Option(False, "--auto-approve"),
            target: list[str] = _TGT, var: list[str] = _VAR, var_file: list[str] = _VARF,
            lock_timeout: str = typer.Option("0s", "--lock-timeout"),
            parallelism: int = typer.Option(10, "--parallelism")) -> None:
    """Destroy everything this configuration manages."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(targets=target, destroy=True, vars=var, var_files=_paths(s, var_file), lock_timeout=lock_timeout)
    raise C.Exit(run_apply(s, flags, None, auto_approve, parallelism))


@app.command()
def refresh(var: list[str] = _VAR, var_file: list[str] = _VARF,
            lock_timeout: str = typer.Option("0s", "--lock-timeout")) -> None:
    """Update state from the providers (drift)."""
    from mlform.engine.commands.applying import run_apply

    s = session()
    flags = _flags(refresh_only=True, vars=var, var_files=_paths(s, var_file), lock_timeout=lock_timeout)
    raise C.Exit(run_apply(s, flags, None, True, 1))


@app.command()
def show(planfile: Optional[Path] = typer.Argument(None), json_out: bool = typer.Option(False, "--json")) -> None:
    """Show state, or a saved plan."""
    from mlform.engine.commands.inspect import run_show

    raise C.Exit(run_show(session(), planfile, json_out))


@app.command()
def output(name: Optional[str] = typer.Argument(None), json_out: bool = typer.Option(False, "--json"),
           raw: bool = typer.Option(False, "--raw")) -> None:
    """Print outputs from state."""
    from mlform.engine.commands.inspect import run_output

    raise C.Exit(run_output(session(), name, json_out, raw))


@app.command("force-unlock")
def force_unlock(lock_id: str = typer.Argument(...), force: bool = typer.Option(False, "--force")) -> None:
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
def init(migrate_state: bool = typer.Option(False, "--migrate-state", help="Copy the state to a changed backend."),
         force_copy: bool = typer.Option(False, "--force-copy", help="Migrate without asking."),
         reconfigure: bool = typer.Option(False, "--reconfigure", help="Use a changed backend as it is."),
         lock_timeout: str = typer.Option("0s", "--lock-timeout")) -> None:
    """Check providers and backend; create .mlform/; migrate state when the backend changed."""
    from mlform.engine.commands.init_cmd import run_init

    raise C.Exit(run_init(session(), migrate_state, force_copy, reconfigure, lock_timeout))


@app.command("import")
def import_(address: str = typer.Argument(...), id: str = typer.Argument(...)) -> None:
    """Adopt an existing provider object into state."""
    from mlform.engine.commands.state_cmds import run_import

    raise C.Exit(run_import(session(), address, id))


@app.command("eval")
def eval_(suites: list[str] = typer.Argument(None), var: list[str] = _VAR, var_file: list[str] = _VARF,
          json_out: bool = typer.Option(False, "--json")) -> None:
    """Run eval suites now and print results."""
    from mlform.engine.commands.evals import run_eval

    s = session()
    raise C.Exit(run_eval(s, suites or [], var, _paths(s, var_file), json_out))


# --- state ---------------------------------------------------------------------------

@state_app.command("list")
def state_list(addresses: list[str] = typer.Argument(None)) -> None:
    from mlform.engine.commands.state_cmds import run_state_list
    raise C.Exit(run_state_list(session(), addresses or []))


@state_app.command("show")
def state_show(address: str = typer.Argument(...)) -> None:
    from mlform.engine.commands.state_cmds import run_state_show
    raise C.Exit(run_state_show(session(), address))


@state_app.command("mv")
def state_mv(source: str = typer.Argument(...), dest: str = typer.Argument(...)) -> None:
    from mlform.engine.commands.state_cmds import run_state_mv
    raise C.Exit(run_state_mv(session(), source, dest))


@state_app.command("rm")
def state_rm(addresses: list[str] = typer.Argument(...)) -> None:
    from mlform.engine.commands.state_cmds import run_state_rm
    raise C.Exit(run_state_rm(session(), addresses))


@state_app.command("pull")
def state_pull() -> None:
    from mlform.engine.commands.state_cmds import run_state_pull
    raise C.Exit(run_state_pull(session()))


@state_app.command("push")
def state_push(path: Path = typer.Argument(...), force: bool = typer.Option(False, "--force")) -> None:
    from mlform.engine.commands.state_cmds import run_state_push
    raise C.Exit(run_state_push(session(), path, force))


@policy_app.command("check")
def policy_check(planfile: Optional[Path] = typer.Argument(None),
                 override_policy: list[str] = _OVR) -> None:
    """Evaluate policies against a plan."""
    from mlform.engine.commands.planning import run_policy_check
    raise C.Exit(run_policy_check(session(), planfile, override_policy))


def _parser_exceptions() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """Usage-error and abort classes of the command-line parser.

    Recent typer releases carry their own copy of click, whose exceptions
    are not ``click.exceptions.*``; a bad option must still read as a usage
    error, not as an internal error.
    """
    import click

    usage: list[type[BaseException]] = [click.exceptions.ClickException]
    aborts: list[type[BaseException]] = [click.exceptions.Abort]
    typer_exc = getattr(typer, "TyperException", None)
    if isinstance(typer_exc, type):
        usage.append(typer_exc)
    typer_abort = getattr(typer, "Abort", None)
    if isinstance(typer_abort, type):
        aborts.append(typer_abort)
    return tuple(usage), tuple(aborts)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, map errors to exit codes, never a traceback for users."""
    try:
        app(args=argv, standalone_mode=False)
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
        usage, aborts = _parser_exceptions()
        if isinstance(e, usage):
            show = getattr(e, "show", None)
            if show is not None:
                show()
            else:
                sys.stderr.write(f"Error: {e}\n")
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
