"""Finish what an interrupted run left behind, before planning anything new.

A run killed between a provider call and the record of its outcome leaves
an *intent* in state (see :mod:`mlform.engine.state.journal`). Its object
may exist: the provider was told the address and operation ID and can find
it again. This must happen before a plan is made, or the plan would create
that resource a second time and orphan the first object.
"""

from __future__ import annotations

import sys
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.config.model import Config
from mlform.engine.config.variables import VarSources
from mlform.engine.diagnostics import Diagnostics


def recover_interrupted(s: C.Session, cfg: Config, mgr: Any, var_sources: VarSources | None = None,
                        fixed: dict[str, Any] | None = None) -> None:
    """Adopt or close the pending operations of a killed run. The caller holds the lock.

    ``fixed`` are a saved plan's variables. Writes state only when there was something to recover; prints one line
    per adopted object. When a provider cannot look (an error), the command
    stops: the intents stay pending and the next command tries again.
    """
    if not mgr.pending_intents():
        if mgr.backend.journal_read() is not None:
            # A killed run's journal with nothing left to resolve: compact it
            # now (the state written is the one every reader already sees).
            mgr.begin("recover")
            mgr.commit()
        return
    # the applier (thread pool, walker) is imported only when there is something to recover
    from mlform.engine.apply.applier import recover_orphans
    from mlform.engine.plan.context import EvalContext
    from mlform.engine.providers.manager import ProviderManager

    ctx = EvalContext(cfg)
    vd = ctx.load_variables(var_sources or VarSources(), fixed=fixed) if fixed is not None \
        else ctx.load_variables(var_sources or VarSources())
    if vd.has_errors:
        s.fail(vd)
    pm = ProviderManager(cfg, cfg.directory, ctx.provider_config)
    d = Diagnostics()

    out = sys.stderr if s.json_diagnostics else sys.stdout  # keep --json output parseable

    def progress(address: str, message: str) -> None:
        out.write(f"{address}: {message}\n")

    try:
        mgr.begin("recover")
        try:
            recover_orphans(mgr, pm, d, progress)
        finally:
            mgr.commit()
    finally:
        pm.close()
    if d.has_errors:
        # Planning now could create a second object beside the lost one.
        s.fail(d)
    s.warn(d)
