"""``mlform logs ADDR [--follow] [--tail N]``: a recorded resource's logs, as its provider
keeps them (the optional provider call ``logs``; a provider without logs says so)."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from mlform.engine.cli import common as C
from mlform.engine.diagnostics import Diagnostics, error

ADDR = typer.Argument(..., metavar="ADDR", help="A resource in the state, such as endpoint.sentiment.")
FOLLOW = typer.Option(False, "--follow", "-f", help="Keep printing new lines until interrupted (Ctrl-C).")
TAIL = typer.Option(None, "--tail", metavar="N", help="Only the last N lines (then new ones with --follow).")


def logs(address: str = ADDR, follow: bool = FOLLOW, tail: Optional[int] = TAIL) -> None:
    """Print a resource's logs (its containers' or servers')."""
    from mlform.engine.cli.main import session

    raise C.Exit(run_logs(session(), address, follow, tail))


def run_logs(s: C.Session, address: str, follow: bool, tail: int | None) -> int:
    from mlform.engine.config.variables import VarSources
    from mlform.engine.plan.context import EvalContext, base_address
    from mlform.engine.providers.manager import ProviderManager
    from mlform.engine.providers.protocol import LogsRequest

    cfg, _ = C.load(s)
    rs = C.state_manager(s, cfg).load().get(address)
    decl = cfg.resources.get(base_address(address))
    if rs is None or decl is None:
        s.fail(Diagnostics([error(f"No {address} in the state",
                                  "`mlform state list` lists what the state records; logs are shown only for "
                                  "resources mlform created or imported.")]))
    assert rs is not None and decl is not None
    ctx = EvalContext(cfg)
    d = ctx.load_variables(VarSources())
    if d.has_errors:
        s.fail(d)
    pm = ProviderManager(cfg, cfg.directory, ctx.provider_config)

    def write(line: str) -> None:
        sys.stdout.write(line if line.endswith("\n") else line + "\n")
        sys.stdout.flush()

    try:
        resp = pm.get(decl.provider_key).logs(LogsRequest(rs.kind, address, rs.attributes, rs.private, follow,
                                                          tail, write))
    finally:
        pm.close()
    if resp.diagnostics.has_errors:
        s.fail(resp.diagnostics)
    return 0


__all__ = ["logs", "run_logs"]
