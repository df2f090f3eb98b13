"""``python -m mlform.providers.server.proxy --config FILE``: the weighted router as a proxy.

Where each model version runs in a server of its own (a container per version and
replica, the docker provider), this process is the endpoint's stable URL: it
forwards every ``/v2/...`` request (HTTP/1.1, kept-alive connections) to one version's backends, chosen by smooth
weighted round-robin as the in-process router does (``router.py``), round-robin
over that version's replicas, and records each request's latency and outcome
per version (``stats.py``), so ``observe`` reads the same figures as on ``local``.

Its admin API is the server's (``client.py`` calls it unchanged) where it makes
sense for backends: ``GET /mlform/info``, ``GET /mlform/stats``,
``PUT /mlform/traffic``, ``POST /mlform/versions`` (``{"id", "urls": [...]}``),
``DELETE /mlform/versions/{id}`` (answered once the version's requests in flight
have finished: a drain), ``POST /mlform/shutdown``.

Config (JSON, 0600: it holds the admin token): ``name``, ``token``, ``host``,
``port``, ``versions`` ``{id: [url, ...]}``, ``weights`` ``{id: percent}``.
A backend that cannot be reached, or answers 5xx, counts as a server error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from mlform.providers.server.stats import CLIENT_ERROR, OK, SERVER_ERROR, RequestLog, window_stats

log = logging.getLogger("mlform.proxy")
IDLE_S = 2.0  # a kept-alive connection idle longer is dropped (the servers close theirs after 5 s)
HOP_HEADERS = {b"host", b"connection", b"keep-alive", b"transfer-encoding", b"content-length"}


@dataclass(eq=False)
class Backend:
    """One version: its servers, counters and requests in flight."""

    id: str
    urls: list[str]
    log: RequestLog = field(default_factory=lambda: RequestLog(1 << 16))
    in_flight: int = 0
    _next: int = 0

    def url(self) -> str:
        self._next = (self._next + 1) % len(self.urls)
        return self.urls[self._next]


class Routes:
    """Versions, weights and the smooth weighted round-robin pick."""

    def __init__(self) -> None:
        self.backends: dict[str, Backend] = {}
        self.weights: dict[str, float] = {}
        self._cur: dict[str, float] = {}

    def set_weights(self, weights: dict[str, float]) -> None:
        unknown = set(weights) - set(self.backends)
        if unknown:
            raise ValueError(f"no version {sorted(unknown)[0]!r} is loaded (loaded: {', '.join(self.backends)})")
        new = {v: float(weights.get(v, 0.0)) for v in self.backends}
        if any(w < 0 for w in new.values()) or (new and not any(new.values())):
            raise ValueError("weights must be >= 0 and send traffic to at least one version")
        self.weights, self._cur = new, {v: 0.0 for v in new if new[v] > 0}

    def pick(self) -> Backend | None:
        if not self._cur:
            return None
        total, best = 0.0, ""
        for v in self._cur:
            w = self.weights[v]
            total += w
            self._cur[v] += w
            if not best or self._cur[v] > self._cur[best]:
                best = v
        self._cur[best] -= total
        return self.backends[best]

    def percentages(self) -> dict[str, float]:
        total = sum(self.weights.values())
        return {v: (100.0 * w / total if total else 0.0) for v, w in self.weights.items()}


class Proxy:
    """The ASGI application."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.name, self.token = str(config["name"]), str(config["token"])
        self.routes = Routes()
        for vid, urls in (config.get("versions") or {}).items():
            self.routes.backends[vid] = Backend(vid, list(urls))
        self.routes.set_weights({k: float(v) for k, v in (config.get("weights") or {}).items()}
                                or {v: 100.0 for v in list(self.routes.backends)[:1]})
        self.pools: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]]] = {}
        self.server: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        if path.startswith("/mlform/"):
            status, payload = await self.admin(scope, path, body)
            await _send(send, status, json.dumps(payload).encode(), [(b"content-type", b"application/json")])
        elif path in ("/v2/health/live", "/v2/health/ready"):
            ok = path.endswith("live") or bool(self.routes._cur)
            await _send(send, 200 if ok else 503, b"", [])
        else:
            await self.forward(scope, body, send)

    async def forward(self, scope: dict[str, Any], body: bytes, send: Any) -> None:
        b = self.routes.pick()
        if b is None:
            await _send(send, 503, b'{"error": "no version receives traffic"}', [])
            return
        b.in_flight += 1
        t0 = time.monotonic()
        kind = SERVER_ERROR
        try:
            headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_HEADERS]
            target = scope["path"] + ("?" + scope["query_string"].decode() if scope["query_string"] else "")
            try:
                status, out, content = await self.exchange(b.url(), scope["method"], target, headers, body)
            except (OSError, EOFError, ValueError, asyncio.IncompleteReadError) as e:
                await _send(send, 502, json.dumps({"error": f"version {b.id} unreachable: {e}"}).encode(),
                            [(b"content-type", b"application/json")])
                return
            kind = OK if status < 400 else CLIENT_ERROR if status < 500 else SERVER_ERROR
            await _send(send, status, content, out)
        finally:
            b.in_flight -= 1
            now = time.monotonic()
            b.log.record(now, (now - t0) * 1000.0, kind)

    async def exchange(self, url: str, method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """One HTTP/1.1 request to a backend over a kept-alive connection (plain streams: an HTTP
        client library's per-request work cost the router three quarters of its throughput). A pooled
        connection the backend closed while idle is retried once on a fresh one."""
        host, _, port = url.removeprefix("http://").partition(":")
        pool = self.pools.setdefault(url, [])
        head = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n".encode()]
        head += [k + b": " + v + b"\r\n" for k, v in headers]
        request = b"".join(head) + b"\r\n" + body
        while pool and time.monotonic() - pool[-1][2] > IDLE_S:  # the server may be closing these
            pool.pop()[1].close()
        for attempt in (0, 1):
            reused = attempt == 0 and bool(pool)
            if reused:
                reader, writer, _ = pool.pop()
            else:
                reader, writer = await asyncio.open_connection(host, int(port or 80))
            try:
                writer.write(request)
                await writer.drain()
                line = await reader.readline()
                if not line:
                    raise EOFError("the backend closed the connection")
                status = int(line.split(b" ", 2)[1])
                out: list[tuple[bytes, bytes]] = []
                length, chunked, close = 0, False, False
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.partition(b":")
                    k, v = k.strip().lower(), v.strip()
                    if k == b"content-length":
                        length = int(v)
                    elif k == b"transfer-encoding":
                        chunked = b"chunked" in v.lower()
                    elif k == b"connection":
                        close = v.lower() == b"close"
                    if k not in HOP_HEADERS:
                        out.append((k, v))
                content = await (_chunked(reader) if chunked else reader.readexactly(length))
            except (OSError, EOFError, asyncio.IncompleteReadError):
                writer.close()
                if reused and attempt == 0:
                    continue
                raise
            if close:
                writer.close()
            else:
                pool.append((reader, writer, time.monotonic()))
            return status, out, content
        raise EOFError("unreachable")

    async def admin(self, scope: dict[str, Any], path: str, body: bytes) -> tuple[int, Any]:
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        if auth != f"Bearer {self.token}":
            return 401, {"error": "missing or wrong bearer token for the mlform admin API"}
        method, routes = scope["method"], self.routes
        try:
            req = json.loads(body) if body else {}
        except ValueError:
            return 400, {"error": "body is not JSON"}
        try:
            if path == "/mlform/info" and method == "GET":
                return 200, {"name": self.name, "pid": os.getpid(), "ready": bool(routes._cur),
                             "weights": routes.percentages(), "digests": {},
                             "versions": [{"id": b.id, "urls": b.urls, "requests": b.log.count,
                                           "errors": b.log.total_errors, "in_flight": b.in_flight}
                                          for b in routes.backends.values()]}
            if path == "/mlform/stats" and method == "GET":
                q = dict(p.split("=", 1) for p in scope["query_string"].decode().split("&") if "=" in p)
                vid = q.get("version")
                if vid is not None and vid not in routes.backends:
                    return 404, {"error": f"no version {vid!r} is loaded"}
                logs = [routes.backends[vid].log] if vid else [b.log for b in routes.backends.values()]
                res = window_stats(logs, float(q.get("window", "60")), time.monotonic()).to_json()
                return 200, {**res, "version": vid}
            if path == "/mlform/traffic" and method == "PUT":
                routes.set_weights({str(k): float(v) for k, v in (req.get("weights") or {}).items()})
                log.info("traffic set to %s", routes.percentages())
                return 200, {"weights": routes.percentages()}
            if path == "/mlform/versions" and method == "POST":
                vid, urls = str(req.get("id") or ""), req.get("urls")
                if not vid or not isinstance(urls, list) or not urls:
                    return 400, {"error": 'body must be {"id": "<version>", "urls": ["http://...", ...]}'}
                if vid in routes.backends:
                    return 409, {"error": f"version {vid!r} is already loaded"}
                routes.backends[vid] = Backend(vid, [str(u) for u in urls])
                routes.weights.setdefault(vid, 0.0)
                return 201, {"id": vid, "urls": urls}
            if path.startswith("/mlform/versions/") and method == "DELETE":
                return await self.remove(path.rsplit("/", 1)[-1])
            if path == "/mlform/shutdown" and method == "POST":
                if self.server is not None:
                    self.server.should_exit = True
                return 202, {"stopping": True}
        except ValueError as e:
            return 400, {"error": str(e)}
        return 404, {"error": f"no admin route {method} {path}"}

    async def remove(self, vid: str) -> tuple[int, Any]:
        b = self.routes.backends.get(vid)
        if b is None:
            return 404, {"error": f"no version {vid!r} is loaded"}
        if self.routes.weights.get(vid, 0.0) > 0:
            return 409, {"error": f"version {vid!r} still receives traffic; shift it away first"}
        deadline = time.monotonic() + 30
        while b.in_flight and time.monotonic() < deadline:  # drain: its requests finish first
            await asyncio.sleep(0.01)
        del self.routes.backends[vid]
        self.routes.weights.pop(vid, None)
        log.info("version %s removed after %d requests", vid, b.log.count)
        return 200, {"removed": vid, "weights": self.routes.percentages()}


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
        if not size:
            await reader.readline()
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readline()


async def _send(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str] | None = None) -> int:
    """Run the proxy until SIGTERM or ``POST /mlform/shutdown``."""
    parser = argparse.ArgumentParser(prog="python -m mlform.providers.server.proxy")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        with open(args.config) as f:
            config = json.load(f)
        app = Proxy(config)
    except (OSError, ValueError, KeyError) as e:
        log.error("error: cannot read proxy config %s: %s", args.config, e)
        return 2
    import uvicorn

    from mlform.providers.server.__main__ import resolve_impl

    uv = uvicorn.Config(app, host=str(config.get("host", "0.0.0.0")), port=int(config.get("port", 8000)),
                        log_config=None, access_log=False, lifespan="off", server_header=False,
                        http=resolve_impl("auto", "httptools", "h11"), loop=resolve_impl("auto", "uvloop", "asyncio"),
                        timeout_graceful_shutdown=10)
    server = uvicorn.Server(uv)
    app.server = server
    log.info("routing %s on port %s to %s", app.name, uv.port, app.routes.percentages())
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
