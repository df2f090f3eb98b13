"""Plan a local endpoint: the version it will serve, what it costs (nothing) and how
fast the model runs here (profiled once per model digest); a new model or prompt
version is planned as a rollout. The engine checks the endpoint's constraints and
chooses its replicas and batching (engine/constraints/) before ``plan_endpoint``."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import (
    HardwareOption, PlanChangeRequest, PlanChangeResponse, ProfileRequest, ProfileResponse,
)
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.local.profile import profile_grid, profile_model
from mlform.providers.local.schema import SERVER_SETTINGS, known_int
from mlform.providers.local.versions import state_version


def _no_estimate(model: Any) -> Any:
    """Unknown until the artifact is known; ``None`` (no estimate) for a format the profiler cannot run."""
    known = isinstance(model, dict) and model.get("path") and not contains_unknown(model.get("path"))
    return None if known else UNKNOWN


def plan_endpoint(req: PlanChangeRequest, work_dir: Path, gpus: Any) -> PlanChangeResponse:
    """Plan one endpoint: the served version, its estimates, and whether the change is rolled out."""
    if req.config is None:
        return PlanChangeResponse(planned_state=None)
    cfg = dict(req.config)
    prior = req.prior_state or {}
    model = cfg.get("model") or {}
    resp = PlanChangeResponse(planned_state=None)
    digest = model.get("digest") if isinstance(model, dict) else UNKNOWN
    est = _estimate(cfg, model, resp, work_dir, gpus)
    if resp.diagnostics.has_errors:
        return resp
    planned: dict[str, Any] = {**cfg, "instance_type": "local", "replicas": cfg.get("replicas", 1),
                               "estimated_cost_per_hour": 0.0, "estimated_cost_per_million": 0.0,
                               "estimated_p99_ms": est.get("p99_ms", UNKNOWN) if est else _no_estimate(model),
                               "active_model_digest": digest}
    vid = state_version(planned)
    traffic = {vid: 100} if not contains_unknown(vid) else UNKNOWN
    port = known_int(cfg.get("port"))
    new_url = f"http://127.0.0.1:{port}" if port is not None else UNKNOWN  # a free port: known once started
    # A change to what the server reads at start (port, environment, limits, batching, gRPC)
    # replaces it (force_new; the batching block is named here, a block has no force_new).
    restarts = prior and any(prior.get(k) != cfg.get(k) for k in SERVER_SETTINGS)
    if prior and prior.get("batching") != cfg.get("batching"):
        resp.requires_replace.append(("batching",))
    if prior and not restarts:
        planned.update(url=prior.get("url", UNKNOWN), device=prior.get("device", UNKNOWN), traffic=traffic,
                       grpc_url=prior.get("grpc_url"))
        if prior.get("restarts") is not None:  # the same server: its restart count stays
            planned["restarts"] = prior["restarts"]
        # A new model digest or a new prompt version is a new served version: rolled out.
        if prior.get("active_model_digest") != digest or state_version(prior) != vid:
            resp.rollout = True
    else:
        planned.update(url=new_url, device=prior.get("device", UNKNOWN) if prior else UNKNOWN, traffic=traffic,
                       grpc_url=_grpc_url(cfg.get("grpc_port")))
    if est:
        resp.estimates = {**est, "cost_per_hour": 0.0, "cost_per_million": 0.0, "instance_type": "local",
                          "replicas": planned["replicas"],
                          "before": {"cost_per_hour": 0.0} if prior else None}
    resp.planned_state = planned
    return resp


def _grpc_url(grpc_port: Any) -> Any:
    """``127.0.0.1:PORT`` for a declared gRPC port; unknown for 0 (a port picked at start); ``None``
    without one (null, so ``endpoint.NAME.grpc_url`` can always be referenced)."""
    if grpc_port is None:
        return None
    port = known_int(grpc_port)
    return f"127.0.0.1:{port}" if port else UNKNOWN


def _estimate(cfg: dict[str, Any], model: Any, resp: PlanChangeResponse, work_dir: Path, gpus: Any
              ) -> dict[str, Any] | None:
    """The model measured on this machine at batch 1. The engine checks ``constraints`` and
    chooses replicas and batching before this call (engine/constraints/, docs/constraints.md)."""
    if not isinstance(model, dict) or contains_unknown(model.get("path")) or not model.get("path"):
        return None
    prof = profile_model(Path(model["path"]), model.get("format") or "onnx", model.get("digest") or "",
                         work_dir / "cache" / "profile", gpus)
    if prof is None:
        return None
    batch = cfg.get("batch_size")
    return {"p99_ms": prof["p99_ms"], "device": prof["device"],
            "batch_size": batch if isinstance(batch, int) and not isinstance(batch, bool) else 1}


def _gpu_runtime(gpus: Any) -> bool:
    """Whether the local server would run ONNX models on a GPU (the provider's ``gpus``)."""
    if gpus == "none":
        return False
    try:
        import onnxruntime as ort

        return "CUDAExecutionProvider" in ort.get_available_providers()
    except Exception:  # noqa: BLE001 - no runtime: no GPU either
        return False


def local_hardware(gpus: Any) -> HardwareOption:
    """This machine, at no cost: its cores, memory and (when the runtime sees one) GPU. An endpoint
    runs one server process here, so throughput comes from batching, not replicas."""
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        mem = 0.0
    return HardwareOption("local", "nvidia" if _gpu_runtime(gpus) else "none", os.cpu_count() or 1,
                          round(mem, 1), 0.0, date.today().isoformat(), max_replicas=1)  # one server an endpoint


def profile_endpoint_model(req: ProfileRequest, work_dir: Path, gpus: Any) -> ProfileResponse:
    """The ``profile`` call: the model measured at each batch size and thread count by the
    server's runner, cached in ``.mlform/cache/profile/`` by digest (providers/local/profile.py)."""
    m = req.model
    if contains_unknown(m.get("path")) or not m.get("path"):
        return ProfileResponse()
    prof = profile_grid(Path(m["path"]), m.get("format") or "onnx", m.get("digest") or "",
                        work_dir / "cache" / "profile", gpus, req.batch_sizes, req.threads, req.progress)
    if prof is None:
        return ProfileResponse()
    return ProfileResponse(points=prof["points"], device=prof["device"], accelerator=prof["accelerator"],
                           cpu=prof["cpu"], overhead_ms=prof["overhead_ms"])
