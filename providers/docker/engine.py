"""The docker provider's work on a Docker engine: networks, the version containers,
the router container, readiness, labels, and stopping with a drain.

One endpoint is a user-defined network of its own (``mlf-<project>-<name>``)
holding a router container (``python -m mlform.providers.server.proxy``, the
stable URL, published on the endpoint's ``bind_address:port``) and, per model
version, ``replicas`` containers running mlform's V2 server
(``python -m mlform.providers.server``), each published on a free host port so
gates and readiness checks reach it directly. Every container is labelled
(:func:`labels`), so ``find_orphans`` and ``import`` find them by label.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from mlform.providers.server.config import ServerConfig, VersionSpec

SERVER_PORT = 8000  # what the servers listen on inside their containers
LABEL = "mlform"


class StartError(Exception):
    """A container did not become ready; ``attr`` is the endpoint attribute to blame."""

    def __init__(self, message: str, detail: str, attr: str = "image") -> None:
        super().__init__(message)
        self.detail, self.attr = detail, attr


@dataclass
class EndpointSpec:
    """What the containers of one endpoint are made from (its planned state, resolved)."""

    address: str
    name: str
    project: str
    operation_id: str
    image: str
    python: str
    dir: Path  # work_dir/docker/<name>: config files, mounted read-only at the same path
    replicas: int = 1
    bind: str = "127.0.0.1"
    port: int | None = None
    cpus: float | None = None
    memory: str | None = None
    gpus: int = 0
    restart: str = "unless-stopped"
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return f"mlf-{self.project}-{self.name}"

    @property
    def router_name(self) -> str:
        return f"mlf-{self.project}-{self.name}-router"

    def version_name(self, vid: str, i: int) -> str:
        return f"mlf-{self.project}-{self.name}-{vid.removeprefix('v-')[:24]}-{i}"


def project_id(work_dir: Path) -> str:
    """A short id of the project (its .mlform folder), so two projects' endpoints never share names."""
    return hashlib.sha256(str(work_dir.resolve()).encode()).hexdigest()[:8]


def labels(spec: EndpointSpec, role: str, version: str = "") -> dict[str, str]:
    return {LABEL: "1", "mlform.address": spec.address, "mlform.project": spec.project,
            "mlform.operation_id": spec.operation_id, "mlform.role": role, "mlform.version": version}


def ensure_network(client: Any, spec: EndpointSpec) -> None:
    import docker.errors

    try:
        client.networks.get(spec.network)
    except docker.errors.NotFound:
        client.networks.create(spec.network, driver="bridge", labels=labels(spec, "network"))


def port_free(bind: str, port: int) -> bool:
    """Whether ``bind:port`` can be listened on here (the engine publishes on this machine)."""
    with socket.socket() as s:
        try:
            s.bind((bind, port))
        except OSError:
            return False
    return True


def _healthcheck(python: str, port: int) -> dict[str, Any]:
    probe = (f"import urllib.request as u; u.urlopen('http://127.0.0.1:{port}/v2/health/ready', timeout=2)")
    return {"test": ["CMD", python, "-c", probe], "interval": 5_000_000_000, "timeout": 3_000_000_000,
            "retries": 3, "start_period": 10_000_000_000}


def _run(client: Any, spec: EndpointSpec, name: str, role: str, version: str, command: list[str],
         mounts: dict[str, dict[str, str]], host_port: int | None, extra: dict[str, Any]) -> Any:
    import docker.types

    kwargs: dict[str, Any] = dict(
        name=name, command=command, detach=True, labels=labels(spec, role, version), network=spec.network,
        ports={f"{SERVER_PORT}/tcp": (spec.bind, host_port)}, volumes={**spec.volumes, **mounts},
        restart_policy={"Name": spec.restart, **({"MaximumRetryCount": 3} if spec.restart == "on-failure" else {})},
        healthcheck=_healthcheck(spec.python, SERVER_PORT), **extra)
    if spec.cpus:
        kwargs["nano_cpus"] = int(spec.cpus * 1e9)
    if spec.gpus and role == "version":
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=spec.gpus, capabilities=[["gpu"]])]
    return client.containers.run(spec.image, **kwargs)


def start_version(client: Any, spec: EndpointSpec, vid: str, model: dict[str, Any],
                  prompt: dict[str, Any] | None, progress: Callable[[str], None]) -> list[Any]:
    """Start ``replicas`` containers serving ``vid`` and wait until each is ready."""
    spec.dir.mkdir(parents=True, exist_ok=True)
    cfg_path = spec.dir / f"{vid}.json"
    model_path = str(model["path"])
    ServerConfig(name=spec.name, token=secrets.token_urlsafe(24), host="0.0.0.0", port=SERVER_PORT,
                 versions=[VersionSpec(vid, model_path, model.get("format") or "onnx", model.get("digest"), prompt)],
                 gpus="auto" if spec.gpus else "none", address=spec.address,
                 operation_id=spec.operation_id).save(cfg_path)
    mounts = {str(spec.dir): {"bind": str(spec.dir), "mode": "ro"}}
    if not model.get("in_image"):
        mounts[model_path] = {"bind": model_path, "mode": "ro"}
    extra: dict[str, Any] = {"environment": spec.environment}
    if spec.memory:
        extra["mem_limit"] = spec.memory
    out = []
    for i in range(spec.replicas):
        name = spec.version_name(vid, i)
        progress(f"starting container {name} ({spec.image})")
        out.append(_run(client, spec, name, "version", vid,
                        [spec.python, "-m", "mlform.providers.server", "--config", str(cfg_path)],
                        mounts, None, extra))
    for c in out:
        wait_ready(c, progress)
    return out


def write_router_config(spec: EndpointSpec, backends: dict[str, list[str]], weights: dict[str, float],
                        token: str) -> Path:
    """The router's config file: what it routes to after a restart (rewritten after each rollout)."""
    spec.dir.mkdir(parents=True, exist_ok=True)
    path = spec.dir / "router.json"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"name": spec.name, "token": token, "host": "0.0.0.0", "port": SERVER_PORT,
                   "versions": backends, "weights": weights}, f)
    os.replace(tmp, path)
    return path


def router_token(spec_dir: Path) -> str:
    try:
        return str(json.loads((spec_dir / "router.json").read_text())["token"])
    except (OSError, KeyError, ValueError):
        return ""


def backend_urls(spec: EndpointSpec, vid: str) -> list[str]:
    return [f"http://{spec.version_name(vid, i)}:{SERVER_PORT}" for i in range(spec.replicas)]


def start_router(client: Any, spec: EndpointSpec, vid: str, progress: Callable[[str], None]) -> Any:
    path = write_router_config(spec, {vid: backend_urls(spec, vid)}, {vid: 100.0}, secrets.token_urlsafe(24))
    progress(f"starting router {spec.router_name} on {spec.bind}:{spec.port or '(a free port)'}")
    c = _run(client, spec, spec.router_name, "router", "",
             [spec.python, "-m", "mlform.providers.server.proxy", "--config", str(path)],
             {str(spec.dir): {"bind": str(spec.dir), "mode": "ro"}}, spec.port, {"environment": {}})
    wait_ready(c, progress)
    return c


def published_url(container: Any) -> str:
    container.reload()
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    binding = (ports.get(f"{SERVER_PORT}/tcp") or [{}])[0]
    host = binding.get("HostIp") or "127.0.0.1"
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{binding.get('HostPort')}"


def wait_ready(container: Any, progress: Callable[[str], None], timeout: float = 90.0) -> str:
    """Poll the container's ``/v2/health/ready`` through its published port; raises
    :class:`StartError` saying why it exited (out of memory among the reasons)."""
    deadline = time.monotonic() + timeout
    url = ""
    while time.monotonic() < deadline:
        container.reload()
        st = container.attrs.get("State") or {}
        if st.get("OOMKilled"):
            raise StartError(f"Container {container.name} ran out of memory",
                             f"It was killed for going over its memory limit "
                             f"({container.attrs['HostConfig'].get('Memory', 0) // 2**20} MiB) while the model "
                             "loaded. Raise memory on the endpoint, or serve a smaller model.", attr="memory")
        if st.get("Status") in ("exited", "dead") or st.get("Restarting"):
            tail = container.logs(tail=8).decode(errors="replace").strip().splitlines()
            raise StartError(f"Container {container.name} exited (code {st.get('ExitCode')}) before it was ready",
                             "Its last log lines: " + (" | ".join(tail[-4:]) or "(none)") +
                             ". The image must have mlform installed and run it with the provider's python.")
        if st.get("Running"):
            url = url or published_url(container)
            if _ready(url):
                progress(f"{container.name} is ready at {url}")
                return url
        time.sleep(0.1)
    raise StartError(f"Container {container.name} was not ready within {timeout:g}s",
                     f"GET {url}/v2/health/ready did not answer 200. See `docker logs {container.name}`.")


def _ready(url: str) -> bool:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=2)
    try:
        conn.request("GET", "/v2/health/ready")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def remove_containers(client: Any, ids: list[str], timeout: int = 10) -> None:
    """Stop (SIGTERM: the server finishes requests in flight) and remove containers; gone ones are skipped."""
    import docker.errors

    for cid in ids:
        try:
            c = client.containers.get(cid)
            c.stop(timeout=timeout)
            c.remove(force=True)
        except docker.errors.NotFound:
            continue


def find_labelled(client: Any, **want: str) -> list[Any]:
    filters = [f"{LABEL}=1"] + [f"mlform.{k}={v}" for k, v in want.items()]
    return list(client.containers.list(all=True, filters={"label": filters}))


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=lambda _: None)
    os.replace(tmp, path)
