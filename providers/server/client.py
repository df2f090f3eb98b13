"""Thin client of a server's /mlform/ admin API, for the local provider.

Each function is one HTTP call with the bearer token; failures raise
:class:`AdminError` carrying the server's own message. Proxies from the
environment are ignored: the servers are always on this machine.

Plain ``http.client``, one connection per call (the servers listen on
127.0.0.1 only): no TLS context to build (an ``httpx.Client`` costs ~45 ms of
CPU, paid twice a second by a rollout's bake polls on the cores the server
under load needs), nothing kept alive that a restarted server could leave
stale, and no import of httpx/httpcore (~0.3 s) in every command that
refreshes a local endpoint.
"""

from __future__ import annotations

import http.client
import json as jsonlib
import os
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import urlencode, urlsplit


class AdminError(Exception):
    """An admin call failed; ``status`` is the HTTP status, ``None`` when unreachable."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ServerStats:
    """Router counters over a window (see ``GET /mlform/stats``)."""

    window_seconds: float
    request_count: int
    error_count: int
    client_error_count: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    truncated: bool
    version: str | None


def request(method: str, url: str, path: str, *, body: bytes | None = None,
            headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    """One HTTP exchange with the server at ``url``: (status, body).

    Raises ``OSError`` (refused, reset, timed out) or ``http.client.HTTPException``.
    """
    u = urlsplit(url)
    conn_type = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_type(u.hostname or "127.0.0.1", u.port, timeout=timeout)
    try:
        conn.request(method, u.path.rstrip("/") + path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _call(method: str, url: str, token: str, path: str, *, json: Any = None,
          params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        headers["Content-Type"] = "application/json"
    if params:
        path = f"{path}?{urlencode(params)}"
    try:
        status, raw = request(method, url, path, body=body, headers=headers, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        raise AdminError(f"cannot reach the mlform server at {url}: {e}") from e
    try:
        payload = jsonlib.loads(raw) if raw else None
    except ValueError:
        payload = None
    if status >= 400:
        msg = payload.get("error") if isinstance(payload, dict) else None
        raise AdminError(msg or f"{method} {path} answered HTTP {status}", status)
    return payload


def info(url: str, token: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """``GET /mlform/info``: pid, port, ready, device, weights (percent), digests, versions."""
    return dict(_call("GET", url, token, "/mlform/info", timeout=timeout))


def load_version(url: str, token: str, version_id: str, path: str | os.PathLike[str],
                 format: str = "onnx", digest: str | None = None, *,
                 weight: float | None = None, prompt: Mapping[str, Any] | None = None,
                 timeout: float = 600.0) -> dict[str, Any]:
    """``POST /mlform/versions``: load a version beside the others, at ``weight``.

    Without ``weight`` the version gets no traffic, unless it is the only one.

    ``path`` is made absolute here, against the caller's working directory.
    Returns the version's description (digest, device, inputs, outputs,
    load_seconds). A file whose digest differs from ``digest`` is refused (422).
    ``prompt`` (``{template, variables, model_params, version}``) serves that
    prompt over the text model (docs/prompts.md).
    """
    body: dict[str, Any] = {"id": version_id, "path": os.path.abspath(path), "format": format,
                            "digest": digest}
    if prompt is not None:
        body["prompt"] = dict(prompt)
    if weight is not None:
        body["weight"] = weight
    return dict(_call("POST", url, token, "/mlform/versions", json=body, timeout=timeout))


def set_traffic(url: str, token: str, weights: Mapping[str, float], *,
                timeout: float = 10.0) -> dict[str, float]:
    """``PUT /mlform/traffic``: the new split; versions not named get 0. Returns percents."""
    body = _call("PUT", url, token, "/mlform/traffic", json={"weights": dict(weights)},
                 timeout=timeout)
    return {str(k): float(v) for k, v in body["weights"].items()}


def remove_version(url: str, token: str, version_id: str, *, timeout: float = 10.0) -> None:
    """``DELETE /mlform/versions/{id}``; refused (409) while the version receives traffic."""
    _call("DELETE", url, token, f"/mlform/versions/{version_id}", timeout=timeout)


def stats(url: str, token: str, window_seconds: float, version: str | None = None, *,
          timeout: float = 10.0) -> ServerStats:
    """``GET /mlform/stats``: counts and latency percentiles over the last ``window_seconds``."""
    params: dict[str, Any] = {"window": window_seconds}
    if version is not None:
        params["version"] = version
    b = _call("GET", url, token, "/mlform/stats", params=params, timeout=timeout)
    return ServerStats(
        window_seconds=float(b["window_seconds"]), request_count=int(b["request_count"]),
        error_count=int(b["error_count"]), client_error_count=int(b["client_error_count"]),
        error_rate=float(b["error_rate"]), p50_ms=b["p50_ms"], p95_ms=b["p95_ms"],
        p99_ms=b["p99_ms"], truncated=bool(b["truncated"]), version=b.get("version"))


def shutdown(url: str, token: str, *, timeout: float = 5.0) -> None:
    """``POST /mlform/shutdown``: the server finishes requests in flight and exits."""
    _call("POST", url, token, "/mlform/shutdown", timeout=timeout)
