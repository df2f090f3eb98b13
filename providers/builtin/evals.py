"""eval_suite planning and apply for the builtin provider.

A suite's ``cache_key`` is the digest of everything its result depends on
(target digest, dataset bytes, metrics and assertions); when it is unchanged
the suite is not re-run.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, TYPE_CHECKING

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.protocol import ApplyChangeRequest, ApplyChangeResponse, PlanChangeRequest, PlanChangeResponse
from mlform.engine.values import UNKNOWN, contains_unknown

if TYPE_CHECKING:
    from mlform.providers.builtin import BuiltinProvider


def validate_suite(cfg: dict[str, Any], d: Diagnostics) -> None:
    if not cfg.get("metric") and not cfg.get("assert"):
        d.error("Eval suite checks nothing", "Add at least one `metric \"NAME\" { min = ... }` or "
                "`assert \"KIND\" { ... }` block.", path=("dataset",))
    for m in cfg.get("metric") or []:
        if m.get("min") is None and m.get("max") is None:
            d.error("Metric without threshold", f'metric "{m.get("name")}" needs `min` or `max`.', path=("metric",))


def _dataset_digest(prov: "BuiltinProvider", ds: Any) -> str | None:
    if not isinstance(ds, str):
        return None
    p = (prov.project_dir / ds).resolve()
    if not p.is_file():
        return None
    return "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()


def cache_key(cfg: dict[str, Any], target_digest: Any, dataset_digest: str) -> str:
    spec = {k: cfg.get(k) for k in ("metric", "assert", "labels", "input_name", "max_records")}
    blob = json.dumps({"target": target_digest, "dataset": dataset_digest, "spec": spec}, sort_keys=True, default=str)
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


def target_digest(cfg: dict[str, Any]) -> Any:
    t = cfg.get("target") or {}
    if t is UNKNOWN:
        return UNKNOWN
    return t.get("digest") or t.get("version") or t.get("url") or t.get("address")


def plan_suite(prov: "BuiltinProvider", req: PlanChangeRequest) -> PlanChangeResponse:
    cfg = dict(req.config or {})
    resp = PlanChangeResponse(planned_state=None)
    dd = _dataset_digest(prov, cfg.get("dataset"))
    if dd is None:
        resp.diagnostics.error("Dataset not found", f"{cfg.get('dataset')} does not exist (relative to "
                               f"{prov.project_dir}). Check the dataset path.", path=("dataset",))
        return resp
    td = target_digest(cfg)
    planned: dict[str, Any] = {**cfg, "dataset_digest": dd}
    if contains_unknown(td):
        planned.update(cache_key=UNKNOWN, target_digest=UNKNOWN, results=UNKNOWN, passed=UNKNOWN)
    else:
        key = cache_key(cfg, td, dd)
        prior = req.prior_state or {}
        planned.update(cache_key=key, target_digest=td)
        if prior.get("cache_key") == key and prior.get("passed") is not None:
            planned.update(results=prior.get("results"), passed=prior.get("passed"))
        else:
            planned.update(results=UNKNOWN, passed=UNKNOWN)
    resp.planned_state = planned
    return resp


def apply_suite(prov: "BuiltinProvider", req: ApplyChangeRequest) -> ApplyChangeResponse:
    from mlform.providers.builtin.run_suite import run_for_state

    planned = dict(req.planned_state or {})
    resp = ApplyChangeResponse(new_state=None)
    if planned.get("results") is not UNKNOWN and planned.get("passed") is not None and \
            (req.prior_state or {}).get("cache_key") == planned.get("cache_key"):
        resp.new_state = planned
        return resp
    result, diags = run_for_state(Path(prov.project_dir), {**planned, "address": req.address}, req.progress)
    resp.diagnostics.extend(diags)
    if result is None:
        return resp
    planned.update(results=result["results"], passed=result["passed"])
    resp.new_state = planned
    if not result["passed"]:
        resp.diagnostics.error(f"Eval suite {req.address} failed", result["failure"], path=("metric",))
    return resp
