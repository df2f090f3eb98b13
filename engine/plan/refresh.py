"""Refresh: read every recorded object back from its provider, noting drift."""

from __future__ import annotations

from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, attach_to_source
from mlform.engine.plan.model import Plan
from mlform.engine.providers.manager import ProviderManager
from mlform.engine.providers.protocol import ReadRequest
from mlform.engine.state.model import State


def refresh_state(cfg: Config, state: State, pm: ProviderManager, plan: Plan, d: Diagnostics,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The state's resources as their providers see them now (address -> ResourceState).

    An object that is gone is left out and noted in ``plan.drift`` as a
    delete; one that changed is noted as an update. A provider that cannot
    be configured, or whose read fails, adds its diagnostics to ``d``.
    """
    prior = {}
    for rs in state.resources:
        if progress:
            progress(f"{rs.address}: Refreshing state...")
        try:
            prov = pm.get(rs.provider)
        except DiagnosticsError as e:
            d.extend(e.diagnostics)
            continue
        resp = prov.read(ReadRequest(rs.kind, rs.address, rs.attributes, rs.private))
        for x in resp.diagnostics:
            d.append(attach_to_source(x, cfg, rs.address, x.attribute_path))
        if resp.state is None:
            plan.drift.append({"address": rs.address, "action": "delete", "before": rs.attributes, "after": None})
            continue
        if rs.sensitive_paths:
            from mlform.engine.state.sensitive import unmask  # a secret read back is not drift
            rs = rs.model_copy(update={"attributes": unmask(rs.attributes, resp.state)})
        if resp.state != rs.attributes:
            plan.drift.append({"address": rs.address, "action": "update", "before": rs.attributes,
                               "after": resp.state})
        prior[rs.address] = rs.model_copy(update={"attributes": resp.state})
    return prior


__all__ = ["refresh_state"]
