"""Turn an evaluated ``eval_suite`` configuration into a run of the eval library.

Used by the builtin provider (apply of an eval_suite), by ``mlform eval`` and
by rollout gates (the same suite pointed at a staged endpoint version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine import eval as E
from mlform.engine.providers.protocol import v2_model_name


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def spec_from_config(address: str, cfg: dict[str, Any], project_dir: Path) -> E.SuiteSpec:
    metrics = tuple(E.MetricSpec(m["name"], E.Threshold(_num(m.get("min")), _num(m.get("max"))))
                    for m in cfg.get("metric") or [])
    asserts = []
    for a in cfg.get("assert") or []:
        kind = E.AssertionKind(a["kind"])
        asserts.append(E.AssertionSpec(
            kind=kind, value=a.get("value") if kind is not E.AssertionKind.REGEX else (a.get("pattern") or a.get("value")),
            schema=a.get("schema"), threshold=_num(a.get("threshold") if a.get("threshold") is not None
                                                   else a.get("min_score")),
            rubric=a.get("rubric"), min_pass_rate=float(a.get("min_pass_rate", 1.0))))
    prompt = None
    target = cfg.get("target") or {}
    if isinstance(target, dict) and str(target.get("address", "")).startswith("prompt."):
        prompt = E.PromptSpec(target.get("template") or "", target.get("variables"), target.get("model_params") or {})
    labels = tuple(str(x) for x in cfg["labels"]) if cfg.get("labels") else None
    return E.SuiteSpec(name=address, dataset=(project_dir / str(cfg["dataset"])).resolve(), metrics=metrics,
                       assertions=tuple(asserts), labels=labels, prompt=prompt)


def run_config(address: str, cfg: dict[str, Any], project_dir: Path, *, url: str | None = None,
               model_name: str | None = None, version: str | None = None, target_digest: str | None = None,
               progress: Callable[[str], None] | None = None) -> tuple[E.SuiteResult | None, Diagnostics]:
    """Run the suite ``cfg``; ``url`` points it at an endpoint (a staged version with ``version``)."""
    d = Diagnostics()
    try:
        spec = spec_from_config(address, cfg, project_dir)
    except (KeyError, ValueError) as exc:
        d.append(error(f"Invalid eval suite {address}", str(exc)))
        return None, d
    vd = spec.validate()
    d.extend(vd)
    if vd.has_errors:
        return None, d
    target = cfg.get("target") or {}
    endpoint = cfg.get("endpoint") or {}
    t_addr = str(target.get("address", ""))
    if url is None and t_addr.startswith("endpoint."):
        url = target.get("url")
    if url is None and t_addr.startswith("prompt.") and endpoint:
        url = endpoint.get("url")
    name = model_name or (t_addr if not t_addr.startswith("endpoint.") else t_addr).split(".", 1)[-1].split("[")[0]
    try:
        predictor = _predictor(spec, t_addr, target, endpoint, url, name, model_name, version)
    except DiagnosticsError as e:  # a model that will not load is the user's to fix
        d.extend(e.diagnostics)
        return None, d
    if predictor is None:
        d.append(error(f"Cannot evaluate {address}", "The target has no URL yet (apply the endpoint first), "
                       "and is not a model that can run in-process."))
        return None, d
    digests = E.Digests(target=str(target_digest or target.get("digest") or target.get("version") or t_addr),
                        dataset=E.dataset_digest(spec.dataset),
                        prompt=target.get("version") if t_addr.startswith("prompt.") else None)

    def prog(done: int, total: int) -> None:
        if progress:
            progress(f"evaluating {address}: {done}/{total} records")

    try:
        result = E.run_suite(spec, predictor, digests=digests, progress=prog if progress else None)
    except DiagnosticsError as e:
        d.extend(e.diagnostics)
        return None, d
    finally:
        close = getattr(predictor, "close", None)
        if close:
            close()
    d.extend(x for x in result.diagnostics)
    return result, d


def _predictor(spec: E.SuiteSpec, t_addr: str, target: dict[str, Any], endpoint: dict[str, Any], url: str | None,
               name: str, model_name: str | None, version: str | None) -> Any:
    if url:
        if model_name is None:
            ep_addr = t_addr if t_addr.startswith("endpoint.") else str(endpoint.get("address", ""))
            name = v2_model_name(ep_addr)
        return E.V2TextGenerator(url, name, version, prompt=spec.prompt) if spec.is_text else \
            E.V2Predictor(url, name, version)
    if t_addr.startswith("model."):
        path = target.get("path")
        fmt = target.get("format") or "onnx"
        return E.OnnxPredictor(path) if fmt == "onnx" else E.TorchScriptPredictor(path)
    return None


def summary(result: E.SuiteResult) -> str:
    return "; ".join(result.failures()) or "passed"
