"""The starlette application: Open Inference Protocol routes and the /mlform/ admin API.

See docs/local-server.md for the protocol as served. The infer routes, the
hot path, are plain ASGI endpoints in :mod:`.infer`.
"""

from __future__ import annotations

import hmac
import logging
import time
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mlform.providers.server.codec import error_body
from mlform.providers.server.config import ServerConfig
from mlform.providers.server.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from mlform.providers.server.metrics import render as render_metrics
from mlform.providers.server.router import ModelVersion, Router
from mlform.providers.server.infer import InFlight, InferEndpoint

log = logging.getLogger("mlform.server")
_JSON = "application/json"
# The V2 protocol extensions served (Triton's names, which its clients check).
EXTENSIONS = ["binary_tensor_data"]


def prewarm() -> None:
    """Import now what the request and admin paths would otherwise import on first use.

    An import runs on the event loop with the GIL held, so every request in flight
    waits for it: a rollout's first version load (anyio's thread backend, behind
    ``run_in_threadpool``) and first stats poll (``numpy.ma``, behind
    ``np.percentile``) each stalled all clients 10-25 ms. Call it before serving;
    tests/unit/server/test_server_prewarm.py drives every route afterwards and
    checks nothing more is imported.

    The thread backend is loaded the way a request loads it, through anyio's
    public API: one no-op worker-thread call on a short-lived event loop (its
    worker thread ends with that loop), rather than importing anyio's private
    backend module by name.
    """
    import importlib

    import anyio
    import anyio.to_thread
    import numpy as np

    from mlform.providers.server.stats import summarize

    anyio.run(anyio.to_thread.run_sync, _noop)
    importlib.import_module("concurrent.futures.thread")
    summarize(1.0, np.zeros(3), np.zeros(3, dtype=np.uint8), False)


def _noop() -> None:
    pass


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=_JSON)


def _error(message: str, status: int) -> Response:
    return Response(error_body(message), status_code=status, media_type=_JSON)


class ServerState:
    """What the routes share: config, router, and the uvicorn server once running."""

    def __init__(self, config: ServerConfig, router: Router) -> None:
        self.config = config
        self.router = router
        self.port: int | None = None
        self.grpc_port: int | None = None  # set once the gRPC service is bound
        self.uvicorn: Any = None  # uvicorn.Server, set by __main__ to allow /mlform/shutdown
        self.started_at = time.time()
        # Infer requests being handled, over both infer routes and gRPC, and their bound.
        self.in_flight = InFlight(config.max_in_flight)
        self._token = config.token.encode()

    def authorized(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), self._token)


def create_app(state: ServerState) -> ASGIApp:
    """Build the ASGI app over ``state`` (its router may already hold versions).

    The result is the starlette app behind :class:`FastInfer`, which hands
    ``POST /v2/models/<name>/infer`` straight to its endpoint.
    """
    name = state.config.name
    router = state.router

    def _version_of(request: Request) -> ModelVersion | Response:
        if request.path_params["name"] != name:
            return _error(f"unknown model {request.path_params['name']!r}", 404)
        vid = request.path_params["version"]
        version = router.versions.get(vid)
        if version is None:
            return _error(f"model {name!r} has no version {vid!r} (loaded: "
                          f"{', '.join(router.versions) or 'none'})", 404)
        return version

    async def live(request: Request) -> Response:
        return _json({"live": True})

    async def ready(request: Request) -> Response:
        ok = router.ready
        return _json({"ready": ok}, 200 if ok else 503)

    async def model_metadata(request: Request) -> Response:
        if request.path_params["name"] != name:
            return _error(f"unknown model {request.path_params['name']!r}", 404)
        serving = router.primary()
        if serving is None:
            return _error("no model version is loaded", 503)
        return _json(_metadata(serving, list(router.versions)))

    async def version_metadata(request: Request) -> Response:
        version = _version_of(request)
        if isinstance(version, Response):
            return version
        return _json(_metadata(version, [version.id]))

    async def model_ready(request: Request) -> Response:
        if request.path_params["name"] != name:
            return _error(f"unknown model {request.path_params['name']!r}", 404)
        return _json({"name": name, "ready": router.ready}, 200 if router.ready else 503)

    async def version_ready(request: Request) -> Response:
        version = _version_of(request)
        if isinstance(version, Response):
            return version
        # A loaded version is ready: it answers its own route whatever its weight.
        return _json({"name": name, "version": version.id, "ready": True})

    async def metrics(request: Request) -> Response:
        return Response(render_metrics(name, router.versions.values(), router.weights,
                                       in_flight.count), media_type=METRICS_CONTENT_TYPE)

    async def server_metadata(request: Request) -> Response:
        return _json({"name": "mlform", "version": mlform_version(), "extensions": EXTENSIONS})

    def _metadata(version: ModelVersion, versions: list[str]) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name, "versions": versions, "platform": version.runner.platform,
            "inputs": [s.to_json() for s in version.runner.inputs],
            "outputs": [s.to_json() for s in version.runner.outputs],
        }
        prompt = version.prompt_info()
        if prompt is not None:  # inputs are then the prompt's variables
            meta["prompt"] = prompt
        return meta

    from mlform.providers.server.admin import admin_routes

    max_bytes, in_flight = state.config.max_request_bytes, state.in_flight
    batching = state.config.batching
    infer = InferEndpoint(name, router, by_version=False, max_request_bytes=max_bytes,
                          in_flight=in_flight, batching=batching)
    routes = [
        # The infer routes first: starlette tries routes in order.
        Route("/v2/models/{name}/infer", infer, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer",
              InferEndpoint(name, router, by_version=True, max_request_bytes=max_bytes,
                            in_flight=in_flight, batching=batching), methods=["POST"]),
        Route("/v2/health/ready", ready, methods=["GET"]),
        Route("/v2/health/live", live, methods=["GET"]),
        Route("/v2", server_metadata, methods=["GET"]),
        Route("/v2/models/{name}", model_metadata, methods=["GET"]),
        Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}", version_metadata, methods=["GET"]),
        Route("/v2/models/{name}/versions/{version}/ready", version_ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *admin_routes(state),
    ]
    app = Starlette(routes=routes, exception_handlers={
        HTTPException: _http_error, Exception: _server_error})
    app.state.mlform = state
    return FastInfer(app, f"/v2/models/{name}/infer", infer)


class FastInfer:
    """Send the one hot route straight to its endpoint, everything else to starlette.

    Starlette's exception middlewares and router cost a request object, two
    ``send`` wrappers and a regex match per request, about a third of the
    app's own time on a small model; the infer endpoint handles its own
    errors, so for that exact path they buy nothing.
    """

    def __init__(self, app: Starlette, path: str, endpoint: InferEndpoint) -> None:
        self.app = app
        self.path = path
        self.endpoint = endpoint
        self.path_params = {"name": endpoint.name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            scope["path_params"] = self.path_params
            await self.endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) in the protocol's JSON shape."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.url.path} does not accept {request.method} (allowed: {allowed})"
    else:
        message = str(exc.detail)
    return Response(error_body(message), status_code=exc.status_code, headers=exc.headers,
                    media_type=_JSON)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(f"internal server error: {exc}", 500)


def mlform_version() -> str:
    try:
        from importlib.metadata import version
        return version("mlform")
    except Exception:  # not installed as a distribution (running from a checkout)
        return "0+unknown"
