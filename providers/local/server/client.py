"""Thin client of a server's /mlform/ admin API, for the local provider.

Each function is one HTTP call with the bearer token; failures raise
:class:`AdminError` carrying the server's own message. Proxies from the
environment are ignored: the servers are always on this machine.

All calls share one ``httpx.Client``: making one builds a TLS context and
costs ~45 ms of CPU, which a rollout's bake polls (two a second) used to pay
each time, on the same cores as the server under load. Connections are not
kept alive between calls, so a server that restarted is never reached
through a stale socket.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import httpx


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


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _shared_client() -> httpx.Client:
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(trust_env=False,
                                   limits=httpx.Limits(max_keepalive_connections=0))
        return _client


def _call(method: str, url: str, token: str, path: str, *, json: Any = None,
          params: Mapping[str, Any] | None = None, timeout: float = 10.0) -> Any:
    try:
        r = _shared_client().request(method, url.rstrip("/") + path, json=json, params=params,
                                     headers={"Authorization": f"Bearer {token}"},
                                     timeout=timeout)
    except httpx.HTTPError as e:
        raise AdminError(f"cannot reach the mlform server at {url}: {e}") from e
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code >= 400:
        msg = body.get("error") if isinstance(body, dict) else None
        raise AdminError(msg or f"{method} {path} answered HTTP {r.status_code}", r.status_code)
    return body


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
