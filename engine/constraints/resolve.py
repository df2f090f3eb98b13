"""The engine's seam: an endpoint with ``constraints`` gets its hardware, replicas and batching
chosen before its provider's ``plan_change`` (engine/plan/instance.py calls :func:`choose`).

The provider lists its hardware (``list_hardware``); the model is measured on this machine by
the provider's ``profile`` call, or, for a provider that cannot measure here (a cloud), by the
``local`` provider's, and scaled per hardware class (``factors.py``). The choice is written into
the configuration the provider sees: ``instance_type`` and ``replicas`` where the user left them
unset, and, when ``min_throughput_rps`` is declared, ``batch_size`` and, for a batch of more
than one, the ``batching`` block (for a provider whose schema has one). A provider that lists
no hardware chooses for itself.
"""

from __future__ import annotations

import os
from typing import Any

from mlform.engine.constraints.model import Constraints, Profile, Solution
from mlform.engine.constraints.solver import autoscaling_check, solve
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, attach_to_source, error, warning
from mlform.engine.providers.protocol import ProfileRequest, ProviderBase
from mlform.engine.values import UNKNOWN, contains_unknown

BATCH_SIZES = [1, 2, 4, 8, 16, 32]


def thread_counts() -> list[int]:
    """1, 2, 4, ... up to this machine's cores, and the core count itself."""
    n = os.cpu_count() or 1
    out = [t for t in (1, 2, 4, 8, 16, 32, 64) if t < n] + [n]
    return sorted(set(out))


def profile_of(pm: Any, prov: ProviderBase, model: dict[str, Any], batches: list[int]) -> Profile | None:
    """The model measured by its provider, else by the ``local`` provider; ``None`` when nothing can run it."""
    req = ProfileRequest({k: model.get(k) for k in ("path", "format", "digest")}, batches, thread_counts())
    resp = prov.profile(req)
    if not resp.points and prov.name != "local":
        try:
            resp = pm.get("provider.local").profile(req)
        except DiagnosticsError:
            return None
    return Profile.from_response(resp) if resp.points else None


def choose(pm: Any, prov: ProviderBase, cfg: Any, decl: Any, address: str, config: dict[str, Any],
           d: Diagnostics) -> tuple[dict[str, Any], Solution | None] | None:
    """``config`` with the chosen hardware written in, and the solution; the config unchanged and
    ``None`` when there is nothing to choose; ``None`` (errors on ``d``) when nothing fits."""
    cons = config.get("constraints")
    if decl.kind != "endpoint" or not cons or contains_unknown(cons):
        return config, None
    model = config.get("model")
    if not isinstance(model, dict) or not model.get("path"):
        return config, None
    hw = prov.list_hardware()
    for x in hw.diagnostics:
        d.append(attach_to_source(x, cfg, address, x.attribute_path))
    if hw.diagnostics.has_errors or not hw.options:
        return config, None
    if contains_unknown(model.get("path")):  # chosen at apply, once the model is known
        return {**config, **{k: UNKNOWN for k in ("instance_type", "replicas") if config.get(k) is None}}, None
    c = Constraints.from_config(config)
    batches = BATCH_SIZES if c.min_throughput_rps is not None else [1]
    if c.batch_size is not None and c.batch_size not in batches:  # the user's batch size is measured too
        batches = sorted({*batches, c.batch_size})
    profile = profile_of(pm, prov, model, batches)
    if profile is None:
        return config, None
    sol = solve(c, profile, hw.options)
    if sol.best is None:
        assert sol.infeasible is not None
        why = sol.infeasible
        d.append(attach_to_source(error(why.summary, why.detail, path=why.path),
                                  cfg, address, why.path))
        return None
    target = (config.get("autoscaling") or {}).get("target_rps_per_replica")
    for path, summary, detail in autoscaling_check(c, sol.best, target if isinstance(target, (int, float)) else None):
        d.append(attach_to_source(warning(summary, detail, path=path), cfg, address, path))
    new = dict(config)
    b = sol.best
    if c.instance_type is None:
        new["instance_type"] = b.hardware
    if c.replicas is None:
        new["replicas"] = b.replicas
    if c.min_throughput_rps is not None and c.batch_size is None:
        new["batch_size"] = b.batch_size
        if b.batch_size > 1 and "batching" in _endpoint_blocks(prov) and not config.get("batching"):
            new["batching"] = {"max_batch_size": b.batch_size, "max_delay_ms": b.max_delay_ms}
    return new, sol


def _endpoint_blocks(prov: ProviderBase) -> set[str]:
    spec = prov.get_schema().kind_schemas.get("endpoint")
    return set(spec.blocks) if spec is not None else set()


def with_choice(estimates: dict[str, Any] | None, sol: Solution | None, prior: dict[str, Any] | None = None
                ) -> dict[str, Any] | None:
    """The provider's estimates with the solver's choice over them, and the runner-up; ``before``
    (what the current object costs, for the monthly delta) from the prior state when the provider gave none."""
    if sol is None or sol.best is None:
        return estimates
    out = {**(estimates or {}), **sol.best.estimates()}
    out["runner_up"] = sol.runner_up.estimates() if sol.runner_up is not None else None
    was = (prior or {}).get("estimated_cost_per_hour")
    if out.get("before") is None and prior is not None and isinstance(was, (int, float)):
        out["before"] = {"cost_per_hour": float(was)}
    return out


def fill_estimated(after: dict[str, Any], sol: Solution | None) -> dict[str, Any]:
    """The endpoint's ``estimated_*`` computed attributes from the choice, where the provider left them unknown."""
    if sol is None or sol.best is None:
        return after
    b = sol.best
    vals = {"estimated_p99_ms": round(b.p99_ms, 3), "estimated_cost_per_hour": round(b.cost_per_hour, 4),
            "estimated_cost_per_million": round(b.cost_per_million, 4)}
    return {**after, **{k: v for k, v in vals.items() if after.get(k, UNKNOWN) is UNKNOWN}}
