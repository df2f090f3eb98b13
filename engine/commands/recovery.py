"""Finish what an interrupted run left behind, before planning anything new
(a view over :meth:`mlform.engine.core.Core.recover`)."""

from __future__ import annotations

import sys
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources


def recover_interrupted(s: C.Session, cfg: Config, mgr: Any, var_sources: VarSources | None = None,
                        fixed: dict[str, Any] | None = None) -> None:
    """Adopt or close the pending operations of a killed run. The caller holds the lock.

    ``fixed`` are a saved plan's variables. Prints one line per adopted
    object; when a provider cannot look (an error), the command stops: the
    intents stay pending and the next command tries again.
    """
    from mlform.engine.core import Core

    out = sys.stderr if s.json_diagnostics else sys.stdout  # keep --json output parseable

    def progress(address: str, message: str) -> None:
        out.write(f"{address}: {message}\n")

    res = Core(cfg, mgr).recover(var_sources, fixed, progress)
    if res.diagnostics.has_errors:
        # Planning now could create a second object beside the lost one.
        s.fail(res.diagnostics)
    s.warn(res.diagnostics)
