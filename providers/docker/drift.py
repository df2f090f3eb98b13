"""Drift and adoption for docker endpoints: ``read`` (a container stopped, removed or
replaced outside mlform; a rollout left half-way) and ``import`` (a running endpoint's
container, by name or ID, adopted with its router and version containers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import ImportResourceRequest, ImportResourceResponse, ReadRequest, ReadResponse
from mlform.providers.docker import engine as E
from mlform.providers.docker.versions import router_handle
from mlform.providers.server import client as C


def _gone(req: ReadRequest, what: str, detail: str) -> ReadResponse:
    resp = ReadResponse(state=None)
    resp.diagnostics.warning(f"The {what} of {req.address} {detail}",
                             "It changed outside mlform. The plan creates the endpoint's containers again; "
                             "`mlform apply` does it.")
    return resp


def read_endpoint(provider: Any, req: ReadRequest) -> ReadResponse:
    import docker.errors

    req.private = discover(provider, req.address, req.private)
    if not req.private.get("router"):
        return ReadResponse(state=req.state) if not req.state.get("containers") else \
            _gone(req, "router container", "was removed")
    client = provider.client()
    spec = provider.spec_of(req.address, req.state, str(req.private.get("operation_id") or ""))
    active = str(req.private.get("active_version") or "")
    wanted = {spec.router_name: str(req.private["router"])}
    for name in req.state.get("containers") or []:
        wanted.setdefault(str(name), "")
    for name, cid in wanted.items():
        try:
            c = client.containers.get(name)
        except docker.errors.NotFound:
            return _gone(req, f"container {name}", "was removed")
        if cid and c.id != cid:
            return _gone(req, f"container {name}", f"was replaced (it is now {c.id[:12]}, not {cid[:12]})")
        if c.status != "running":
            return _gone(req, f"container {name}", f"is {c.status}, not running")
    state = dict(req.state)
    resp = ReadResponse(state=state)
    url, token = router_handle(req.private)
    try:
        inf = C.info(url, token)
    except C.AdminError as e:
        return _gone(req, "router", f"does not answer ({e})")
    weights = {k: float(v) for k, v in (inf.get("weights") or {}).items()}
    if len(weights) > 1:
        state["traffic"] = {k: round(v) for k, v in weights.items()}
        left = max((v for v in weights if v != active), key=lambda v: weights[v])
        resp.diagnostics.warning(
            f"Rollout of {left} on {req.address} was interrupted at {weights[left]:g}%",
            f"An earlier apply stopped half-way: {left} takes {weights[left]:g}% of the traffic and {active} the "
            f"rest. The next apply rolls back to {active} first; if the configuration still asks for the new "
            "model it is then rolled out again from the start, gates included.")
    return resp


def import_endpoint(provider: Any, req: ImportResourceRequest) -> ImportResourceResponse:
    import docker.errors

    resp = ImportResourceResponse(state=None)
    client = provider.client()
    try:
        c = client.containers.get(req.id)
    except docker.errors.NotFound:
        resp.diagnostics.error(f"No container {req.id} on the Docker engine",
                               f"`docker ps` on {provider.host} lists the containers; give one's name or ID.")
        return resp
    labels = c.labels or {}
    if labels.get("mlform.address") != req.address:
        resp.diagnostics.error(f"Container {c.name} is not {req.address}'s",
                               "mlform adopts the containers it started for an endpoint (labelled "
                               f"mlform.address={req.address}); {c.name} is labelled "
                               f"{labels.get('mlform.address') or 'by no mlform endpoint'}. Import it under its "
                               "own address, or declare the endpoint and let `mlform apply` create it.")
        return resp
    spec = provider.spec_of(req.address, {}, "")
    ours = E.find_labelled(client, address=req.address, project=labels.get("mlform.project", spec.project))
    router = next((x for x in ours if x.labels.get("mlform.role") == "router"), None)
    if router is None or router.status != "running":
        resp.diagnostics.error(f"{req.address} has no running router container",
                               "The endpoint's stable URL is its router container; without it there is nothing "
                               "to adopt. Run `mlform apply` to create the endpoint instead.")
        return resp
    url = E.published_url(router)
    private = {"router": router.id, "url": url, "dir": str(spec.dir),
               "operation_id": labels.get("mlform.operation_id", "")}
    weights = C.info(url, E.router_token(spec.dir)).get("weights") or {}
    active = max(weights, key=lambda v: weights[v]) if weights else ""
    versions = [x for x in ours if x.labels.get("mlform.version") == active]
    cfg: dict[str, Any] = {}
    if versions:
        cmd = versions[0].attrs["Config"]["Cmd"]
        try:
            cfg = json.loads(Path(cmd[cmd.index("--config") + 1]).read_text())
        except (OSError, ValueError, IndexError):
            cfg = {}
    v = (cfg.get("versions") or [{}])[0]
    private["active_version"] = active
    resp.state = {"url": url, "traffic": {active: 100}, "replicas": len(versions), "instance_type": "docker",
                  "active_model_digest": v.get("digest"), "image_id": str(versions[0].image.id) if versions else "",
                  "containers": sorted(x.name for x in ours), "device": "cpu"}
    return resp


def discover(provider: Any, address: str, private: dict[str, Any]) -> dict[str, Any]:
    """``private`` when it names the router; else what the labels say (an imported endpoint's
    state has no private data): the router's id and URL, the config folder, the active version."""
    if private.get("router"):
        return private
    client = provider.client()
    spec = provider.spec_of(address, {}, "")
    router = next(iter(E.find_labelled(client, address=address, project=spec.project, role="router")), None)
    if router is None:
        return private
    url = E.published_url(router)
    weights = C.info(url, E.router_token(spec.dir)).get("weights") or {}
    return {"router": router.id, "url": url, "dir": str(spec.dir),
            "active_version": max(weights, key=lambda v: weights[v]) if weights else "",
            "operation_id": router.labels.get("mlform.operation_id", "")}
