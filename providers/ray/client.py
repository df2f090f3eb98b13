"""Serve's REST API on the Ray dashboard, as the ray provider uses it.

Every change is a ``PUT /api/serve/applications/`` of the whole declarative
config: the provider reads what is deployed (``GET``), changes its own
applications and writes the lot back, so applications it does not own are
kept as they are. An unchanged application is left alone by Serve; a changed
``user_config`` is handed to the running replicas (``reconfigure``), and a
changed ``num_replicas`` or ``autoscaling_config`` scales without a restart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx

_LOCK = threading.Lock()  # one read-modify-write of the config at a time in this process
DASHBOARD_PORT = 8265


class ClusterError(Exception):
    """The cluster could not be reached or refused a call; the message is for people."""


def dashboard_url(address: str, dashboard_port: int = DASHBOARD_PORT) -> str:
    """The dashboard's HTTP address for a provider ``address``: ``http(s)://host:port`` as
    given, ``ray://host:10001`` -> ``http://host:8265``, ``auto`` -> ``http://127.0.0.1:8265``."""
    if address == "auto":
        return f"http://127.0.0.1:{dashboard_port}"
    parts = urlsplit(address if "://" in address else "http://" + address)
    if parts.scheme == "ray":
        return f"http://{parts.hostname}:{dashboard_port}"
    return f"{parts.scheme}://{parts.netloc}".rstrip("/")


@dataclass
class Node:
    node_id: str
    ip: str
    head: bool
    cpus: float
    gpus: float


class ServeClient:
    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            r = self.http.request(method, path, **kw)
        except httpx.HTTPError as e:
            raise ClusterError(f"cannot reach the Ray dashboard at {self.url} ({type(e).__name__}: {e})") from e
        if r.status_code >= 400:
            raise ClusterError(f"{method} {self.url}{path} answered {r.status_code}: {r.text.strip()[-600:]}")
        return r.json() if r.content else {}

    # --- reads ------------------------------------------------------------------------
    def serve_status(self) -> dict[str, Any]:
        got = self._call("GET", "/api/serve/applications/")
        return got if isinstance(got, dict) else {}

    def applications(self) -> dict[str, Any]:
        return dict(self.serve_status().get("applications") or {})

    def nodes(self) -> list[Node]:
        got = self._call("GET", "/api/v0/nodes", params={"limit": 1000})
        out = []
        for n in ((got.get("data") or {}).get("result") or {}).get("result") or []:
            if n.get("state") != "ALIVE":
                continue
            res = n.get("resources_total") or {}
            out.append(Node(str(n.get("node_id")), str(n.get("node_ip")), bool(n.get("is_head_node")),
                            float(res.get("CPU", 0)), float(res.get("GPU", 0))))
        return out

    def log_tail(self, node_id: str, filename: str, lines: int = 15) -> str:
        """The last ``lines`` lines of a log file on a node (replica logs), '' when unreadable."""
        try:
            r = self.http.get("/api/v0/logs/file", params={"node_id": node_id, "filename": filename,
                                                             "lines": lines})
        except httpx.HTTPError:
            return ""
        return r.text if r.status_code == 200 else ""

    # --- writes -----------------------------------------------------------------------
    def update(self, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
               base: dict[str, Any]) -> None:
        """Read the deployed applications, let ``change`` edit their configs, write them back.

        ``base`` holds the cluster-wide options (``proxy_location``, ``http_options``) used
        when Serve runs nothing yet; once it runs, its own are kept (they cannot change)."""
        with _LOCK:
            st = self.serve_status()
            apps = [dict(a["deployed_app_config"]) for a in (st.get("applications") or {}).values()
                    if a.get("deployed_app_config")]
            cfg: dict[str, Any] = {"applications": change(apps)}
            if st.get("applications"):
                http = st.get("http_options") or {}
                cfg["http_options"] = {"host": http.get("host"), "port": http.get("port")}
                cfg["proxy_location"] = st.get("proxy_location") or base.get("proxy_location")
            else:
                cfg.update(base)
            self._call("PUT", "/api/serve/applications/", json=cfg)


def app_of(apps: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((a for a in apps if a.get("name") == name), None)


def replace_app(apps: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in apps if a.get("name") != new["name"]] + [new]


def without(apps: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [a for a in apps if a.get("name") not in names]


def wait_running(client: ServeClient, names: list[str], timeout: float, progress: Callable[[str], None],
                 on_stuck: Callable[[dict[str, Any]], str | None] | None = None) -> dict[str, Any]:
    """Wait until every application in ``names`` is RUNNING; the applications' status.

    Raises :class:`ClusterError` saying why when one fails to deploy, when ``on_stuck``
    names a reason to stop waiting (replicas that cannot be placed), or at ``timeout``."""
    end, last = time.monotonic() + timeout, ""
    while True:
        apps = client.applications()
        states = {n: (apps.get(n) or {}).get("status", "NOT_STARTED") for n in names}
        if all(s == "RUNNING" for s in states.values()):
            return apps
        for n, s in states.items():
            if s == "DEPLOY_FAILED":
                raise ClusterError(failure_message(client, apps[n]))
            if on_stuck is not None and n in apps:
                why = on_stuck(apps[n])
                if why:
                    raise ClusterError(why)
        line = ", ".join(f"{n} {s.lower()}" for n, s in states.items())
        if line != last:
            progress(f"waiting for Serve: {line}")
            last = line
        if time.monotonic() > end:
            stuck = next((apps[n] for n, s in states.items() if s != "RUNNING" and n in apps), None)
            raise ClusterError(f"not healthy after {timeout:g}s. " + (failure_message(client, stuck) if stuck
                                                                      else "Serve never started it."))
        time.sleep(0.5)


def failure_message(client: ServeClient, app: dict[str, Any]) -> str:
    """What Serve says about a failing application, with its replicas' last log lines."""
    parts = []
    for dep in (app.get("deployments") or {}).values():
        msg = str(dep.get("message") or "").strip()
        if msg:
            parts.append(f"deployment {dep.get('name')}: " + "\n".join(msg.splitlines()[-12:]))
        for rep in (dep.get("replicas") or []) + (dep.get("recent_dead_replicas") or [])[:1]:
            path = str(rep.get("log_file_path") or "").lstrip("/")
            tail = client.log_tail(str(rep.get("node_id") or ""), path) if path else ""
            if tail.strip():
                parts.append(f"last lines of replica {rep.get('replica_id')}'s log:\n" +
                             "\n".join(tail.strip().splitlines()[-10:]))
                break
    if not parts and app.get("message"):
        parts.append("\n".join(str(app["message"]).strip().splitlines()[-12:]))
    return "\n".join(parts) or f"Serve reports {app.get('status')} and no reason."
