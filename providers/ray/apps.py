"""The Serve application configs of one endpoint (see app.py for what runs them): names,
routes, the version deployment's replicas/autoscaling/CPUs/GPUs, the ingress's weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from mlform.engine.providers.protocol import v2_model_name
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.ray.client import (
    ClusterError, ServeClient, app_of, replace_app, wait_running, without,
)

VERSION_IMPORT = "mlform.providers.ray.app:version_app"
INGRESS_IMPORT = "mlform.providers.ray.app:ingress_app"
model_name = v2_model_name


@dataclass
class Settings:
    """The provider block, resolved: where Serve's proxy answers and how long to wait."""

    dashboard: str
    proxy_url: str
    base: dict[str, Any] = field(default_factory=dict)  # proxy_location / http_options when Serve starts
    deploy_timeout: float = 180.0


def app_name(address: str) -> str:
    return v2_model_name(address)


def version_app_name(name: str, vid: str) -> str:
    return f"{name}.{vid}"


def version_route(name: str, vid: str) -> str:
    return f"/_mlform/{name}/{vid}"


def state_version(state: dict[str, Any] | None) -> Any:
    st = state or {}
    model = st.get("model")
    digest = model.get("digest") if isinstance(model, dict) else st.get("active_model_digest")
    if contains_unknown(digest):
        return UNKNOWN
    return "v-" + str(digest or "unknown").split(":")[-1][:12]


def _num(v: Any, default: float) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default


def version_deployment(state: dict[str, Any]) -> dict[str, Any]:
    """The version deployment's options: replicas or autoscaling, CPUs/GPUs per replica."""
    opts: dict[str, Any] = {"num_cpus": _num(state.get("cpus_per_replica"), 1.0)}
    gpus = _num(state.get("gpus_per_replica"), 0.0)
    if gpus:
        opts["num_gpus"] = gpus
    dep: dict[str, Any] = {"name": "version", "ray_actor_options": opts}
    auto = state.get("autoscaling")
    if isinstance(auto, dict) and auto:
        lo, hi = int(_num(auto.get("min_replicas"), 1)), int(_num(auto.get("max_replicas"), 1))
        rps = _num(auto.get("target_rps_per_replica"), 0.0)
        p99 = _num(state.get("estimated_p99_ms"), 0.0)
        # Serve scales on requests in flight per replica: rps x latency (Little's law), at least 1.
        target = max(1.0, rps * p99 / 1000.0) if rps and p99 else 2.0
        dep["autoscaling_config"] = {"min_replicas": lo, "max_replicas": max(lo, hi),
                                     "initial_replicas": lo, "target_ongoing_requests": target}
    else:
        dep["num_replicas"] = int(_num(state.get("replicas"), 1))
    return dep


def wanted_replicas(state: dict[str, Any]) -> int:
    auto = state.get("autoscaling")
    if isinstance(auto, dict) and auto:
        return int(_num(auto.get("min_replicas"), 1))
    return int(_num(state.get("replicas"), 1))


def check_capacity(c: ServeClient, state: dict[str, Any]) -> str | None:
    """Why the cluster cannot place the replicas at all (its nodes' CPUs and GPUs), or ``None``."""
    nodes = c.nodes()
    cpu, gpu = _num(state.get("cpus_per_replica"), 1.0), _num(state.get("gpus_per_replica"), 0.0)
    fits = sum(min(math.floor(n.cpus / cpu + 1e-9) if cpu else 10**6,
                   math.floor(n.gpus / gpu + 1e-9) if gpu else 10**6) for n in nodes)
    want = wanted_replicas(state)
    if fits >= want:
        return None
    have = ", ".join(f"{'head' if n.head else 'node'} {n.node_id[:8]}: {n.cpus:g} CPU, {n.gpus:g} GPU"
                     for n in nodes)
    return (f"{want} replica(s) of {cpu:g} CPU and {gpu:g} GPU each do not fit on the cluster, which has "
            f"{len(nodes)} node(s) ({have}): at most {fits} fit. Lower replicas, cpus_per_replica or "
            "gpus_per_replica, or add nodes to the cluster.")


def _stuck(app: dict[str, Any]) -> str | None:
    for dep in (app.get("deployments") or {}).values():
        msg = str(dep.get("message") or "")
        if "resources" in msg and ("cannot be scheduled" in msg or "insufficient" in msg.lower()):
            return msg.strip()
    return None


def deploy_version(c: ServeClient, s: Settings, address: str, name: str, vid: str, state: dict[str, Any],
                   progress: Callable[..., None]) -> dict[str, Any]:
    """Deploy (or rescale) ``vid``'s application and wait until it is healthy."""
    why = check_capacity(c, state)
    if why:
        raise ClusterError(why)
    model = state.get("model") or {}
    app: dict[str, Any] = {"name": version_app_name(name, vid), "route_prefix": version_route(name, vid),
           "import_path": VERSION_IMPORT,
           "args": {"model_name": model_name(address), "version": vid, "path": str(model.get("path")),
                    "format": model.get("format") or "onnx", "digest": model.get("digest"),
                    "gpus": "auto" if _num(state.get("gpus_per_replica"), 0.0) else "none"},
           "deployments": [version_deployment(state)]}
    c.update(lambda apps: replace_app(apps, app), s.base)
    return wait_running(c, [app["name"]], s.deploy_timeout, lambda m: progress(m), _stuck)


def ingress_config(c: ServeClient, name: str) -> dict[str, Any]:
    app = c.applications().get(name) or {}
    deps = (app.get("deployed_app_config") or {}).get("deployments") or [{}]
    return dict(deps[0].get("user_config") or {})


def ingress_weights(c: ServeClient, name: str) -> tuple[dict[str, float], dict[str, Any]]:
    cfg = ingress_config(c, name)
    return {str(k): float(v) for k, v in (cfg.get("weights") or {}).items()}, cfg


def ingress_apps(c: ServeClient, name: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in (ingress_config(c, name).get("apps") or {}).items()}


def set_ingress(c: ServeClient, s: Settings, name: str, weights: dict[str, float], apps: dict[str, str],
                extra: dict[str, Any] | None = None, model: str | None = None) -> None:
    """Write the ingress's split in place (``user_config``: its replica reconfigures, no restart)."""
    def change(cur: list[dict[str, Any]]) -> list[dict[str, Any]]:
        old = app_of(cur, name)
        prev = dict(((old or {}).get("deployments") or [{}])[0].get("user_config") or {})
        user = {**prev, **(extra or {}), "weights": weights, "apps": apps}
        new: dict[str, Any] = dict(old) if old else {"name": name, "route_prefix": f"/{name}", "import_path": INGRESS_IMPORT,
                                     "args": {"model_name": model or name}}
        new["deployments"] = [{"name": "ingress", "user_config": user}]
        return replace_app(cur, new)
    c.update(change, s.base)


def remove_apps(c: ServeClient, s: Settings, names: list[str]) -> None:
    if names:
        c.update(lambda apps: without(apps, *names), s.base)


def placement(app: dict[str, Any]) -> dict[str, int]:
    """Running replicas per node id (first 8 hex digits) of a version application."""
    out: dict[str, int] = {}
    for dep in (app.get("deployments") or {}).values():
        for r in dep.get("replicas") or []:
            if r.get("state") == "RUNNING":
                k = str(r.get("node_id") or "")[:8]
                out[k] = out.get(k, 0) + 1
    return out
