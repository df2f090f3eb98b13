"""eval_suite validation, planning and apply for the builtin provider.

A suite's ``cache_key`` is the eval library's :func:`~mlform.engine.eval.cache_key`
over the suite's spec and :func:`~mlform.engine.rollout.suites.suite_digests`
(target model, dataset, prompt version, judge model). A suite whose key is
unchanged and whose recorded result passed is not re-run; a failed one is
re-run by every apply, so what depends on it stays blocked until it passes.

Keys recorded before the library's key was used here (mlform 0.1 betas) never
match the new ones: such a suite re-runs once and records the new key.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, TYPE_CHECKING

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.protocol import ApplyChangeRequest, ApplyChangeResponse, PlanChangeRequest, PlanChangeResponse
from mlform.engine.values import UNKNOWN, contains_unknown

if TYPE_CHECKING:
    from mlform.providers.builtin import BuiltinProvider


def validate_suite(cfg: dict[str, Any], d: Diagnostics, project_dir: Path | None = None) -> None:
    """Static checks, reported at the attribute or block they are about."""
    if not cfg.get("metric") and not cfg.get("assert"):
        d.error("Eval suite checks nothing", "Add at least one `metric \"NAME\" { min = ... }` or "
                "`assert \"KIND\" { ... }` block.", path=("dataset",))
    for i, m in enumerate(cfg.get("metric") or []):
        if m.get("min") is None and m.get("max") is None:
            d.error("Metric without threshold", f'metric "{m.get("name")}" needs `min` or `max`.',
                    path=("metric", i))
    target = cfg.get("target")
    t_kind = str(target.get("address", "")).split(".", 1)[0] if isinstance(target, dict) else ""
    if t_kind == "prompt" and cfg.get("endpoint") is None:
        d.error("A prompt suite needs an endpoint",
                f"{target['address']} is rendered with each record's variables and sent to an endpoint "  # type: ignore[index]
                "that generates text: add endpoint = endpoint.NAME.", path=("target",))
    if t_kind in ("model", "endpoint") and cfg.get("endpoint") is not None:
        d.warning("endpoint is only used with a prompt target",
                  "With a model or endpoint target the suite evaluates that target; remove `endpoint`.",
                  path=("endpoint",))
    _validate_assertions(cfg, d)
    if project_dir is not None and not contains_unknown(target):
        _validate_spec(cfg, d, project_dir)


def _validate_assertions(cfg: dict[str, Any], d: Diagnostics) -> None:
    from mlform.engine.rollout.suites import assertion_from_config, judge_ref

    for i, a in enumerate(cfg.get("assert") or []):
        if contains_unknown({k: v for k, v in a.items() if k != "judge"}):
            continue  # known at plan time
        try:
            spec = assertion_from_config(a)
        except ValueError as e:
            d.error("Invalid assertion", f"{e}.", path=("assert", i))
            continue
        if spec.kind.value == "llm_judge" and a.get("judge") is None and cfg.get("judge") is None:
            d.error('Assertion "llm_judge" has no judge',
                    "Name the endpoint that grades the outputs: judge = endpoint.NAME in this block, or once "
                    "on the suite.", path=("assert", i))
        from mlform.engine.eval.spec import validate_assertion

        found = Diagnostics()
        validate_assertion(spec, found, "")
        for x in found:
            (d.error if x.is_error else d.warning)(x.summary, x.detail, path=("assert", i))
    try:
        judge_ref(cfg)
    except ValueError as e:
        d.error("Different judges in one suite", f"{e}.", path=("judge",) if cfg.get("judge") else ("assert",))


def _validate_spec(cfg: dict[str, Any], d: Diagnostics, project_dir: Path) -> None:
    """Metric names and the suite as a whole (what the eval library checks before a run)."""
    from mlform.engine.rollout.suites import spec_from_config

    if contains_unknown({k: cfg.get(k) for k in ("metric", "labels", "dataset")}):
        return
    try:
        spec = spec_from_config("", cfg, project_dir)
    except (KeyError, ValueError):
        return  # reported by _validate_assertions
    for i, m in enumerate(spec.metrics):
        found = Diagnostics()
        spec._validate_metric(m, found)
        for x in found:
            (d.error if x.is_error else d.warning)(x.summary, x.detail, path=("metric", i))


def _dataset_digest(prov: "BuiltinProvider", ds: Any) -> str | None:
    if not isinstance(ds, str):
        return None
    p = (prov.project_dir / ds).resolve()
    if not p.is_file():
        return None
    return "sha256:" + hashlib.sha256(p.read_bytes()).hexdigest()


def plan_suite(prov: "BuiltinProvider", req: PlanChangeRequest) -> PlanChangeResponse:
    """Plan a suite (already validated): its cache key, and its prior result when that still holds."""
    from mlform.engine import eval as E
    from mlform.engine.rollout.suites import spec_from_config, suite_digests

    cfg = dict(req.config or {})
    resp = PlanChangeResponse(planned_state=None)
    dd = _dataset_digest(prov, cfg.get("dataset"))
    if dd is None:
        resp.diagnostics.error("Dataset not found", f"{cfg.get('dataset')} does not exist (relative to "
                               f"{prov.project_dir}). Check the dataset path.", path=("dataset",))
        return resp
    digests = suite_digests(cfg, dd)
    planned: dict[str, Any] = {**cfg, "dataset_digest": dd}
    if digests is UNKNOWN:
        planned.update(cache_key=UNKNOWN, target_digest=UNKNOWN, results=UNKNOWN, passed=UNKNOWN)
    else:
        key = E.cache_key(spec_from_config(req.address, cfg, prov.project_dir), digests)
        prior = req.prior_state or {}
        planned.update(cache_key=key, target_digest=digests.target)
        if prior.get("cache_key") == key and prior.get("passed") is True:
            planned.update(results=prior.get("results"), passed=True)
        else:
            planned.update(results=UNKNOWN, passed=UNKNOWN)
    resp.planned_state = planned
    return resp


def apply_suite(prov: "BuiltinProvider", req: ApplyChangeRequest) -> ApplyChangeResponse:
    """Run the suite (unless its passing result still holds); a failure is an error diagnostic."""
    from mlform.providers.builtin.run_suite import run_for_state

    planned = dict(req.planned_state or {})
    resp = ApplyChangeResponse(new_state=None)
    if planned.get("passed") is True and (req.prior_state or {}).get("cache_key") == planned.get("cache_key"):
        resp.new_state = planned
        return resp
    result, diags = run_for_state(Path(prov.project_dir), {**planned, "address": req.address}, req.progress)
    resp.diagnostics.extend(diags)
    if result is None:
        return resp
    planned.update(results=result["results"], passed=result["passed"])
    if contains_unknown(planned.get("cache_key")):
        planned["cache_key"] = result["results"].get("cache_key")
    if contains_unknown(planned.get("target_digest")):
        planned["target_digest"] = (result["results"].get("digests") or {}).get("target")
    resp.new_state = planned
    if not result["passed"]:
        resp.diagnostics.error(f"Eval suite {req.address} failed", result["failure"], path=("assert",)
                               if planned.get("assert") and not planned.get("metric") else ("metric",))
    return resp
