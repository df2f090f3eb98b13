"""The /mlform/ admin API: versions, traffic, stats, info, shutdown.

Every route needs ``Authorization: Bearer <token>`` with the token from the
server's config file. Loading a version happens in a worker thread; the
router only changes, in one step on the event-loop thread, once the new
version is loaded and warmed up, so requests in flight are never disturbed.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, Awaitable, Callable

import orjson
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mlform.providers.server.runners import RunnerLoadError
from mlform.providers.server.config import ConfigError, VersionSpec
from mlform.providers.server.router import RouterError, load_version
from mlform.providers.server.stats import summarize, window_samples

log = logging.getLogger("mlform.server")
# Windows with more samples than this are summarized on a worker thread: the
# percentiles of a busy 10 s window take milliseconds, and on the event loop
# every request in flight would wait for them (a rollout polls four times a second).
INLINE_STATS_SAMPLES = 5000
Handler = Callable[[Request], Awaitable[Response]]


def _json(obj: Any, status: int = 200, background: BackgroundTask | None = None) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type="application/json",
                    background=background)


def _error(message: str, status: int) -> Response:
    return _json({"error": message}, status)


async def _body(request: Request) -> Any:
    try:
        return orjson.loads(await request.body())
    except orjson.JSONDecodeError as e:
        raise RouterError(f"request body is not valid JSON: {e}") from None


def admin_routes(state: Any) -> list[BaseRoute]:
    """The admin routes over a :class:`~mlform.providers.server.app.ServerState`."""
    router = state.router
    config = state.config
    loading: set[str] = set()

    def guarded(handler: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            if not state.authorized(request):
                return _error("missing or wrong bearer token for the mlform admin API", 401)
            try:
                return await handler(request)
            except RouterError as e:
                return _error(str(e), e.status)
        wrapper.__name__ = handler.__name__
        return wrapper

    async def info(request: Request) -> Response:
        primary = router.primary()
        return _json({
            "name": config.name, "pid": os.getpid(), "port": state.port,
            # the supervisor that restarts this server when it crashes (providers/local/supervisor.py)
            "supervisor_pid": os.getppid() if os.environ.get("MLFORM_SUPERVISED") else None,
            "grpc_port": state.grpc_port,
            "started_at": state.started_at, "ready": router.ready,
            "device": primary.runner.device if primary else None,
            "weights": router.percentages(),
            "digests": {v.id: v.digest for v in router.versions.values()},
            "versions": [v.describe() for v in router.versions.values()],
            "loading": sorted(loading),
        })

    async def stats(request: Request) -> Response:
        q = request.query_params
        try:
            window = float(q.get("window", "60"))
        except ValueError:
            window = -1.0
        if not window > 0:
            raise RouterError("window must be a number of seconds > 0")
        vid = q.get("version")
        if vid is not None and vid not in router.versions:
            raise RouterError(f"no version {vid!r} is loaded", 404)
        versions = [router.versions[vid]] if vid else list(router.versions.values())
        # The samples are copied here, on the loop thread that writes the rings.
        lat, kind, truncated = window_samples([v.log for v in versions], time.monotonic() - window)
        if lat.size > INLINE_STATS_SAMPLES:
            figures = await run_in_threadpool(summarize, window, lat, kind, truncated)
        else:
            figures = summarize(window, lat, kind, truncated)
        result = figures.to_json()
        result["version"] = vid
        return _json(result)

    async def set_traffic(request: Request) -> Response:
        body = await _body(request)
        weights = body.get("weights") if isinstance(body, dict) else None
        if not isinstance(weights, dict) or not weights:
            raise RouterError('body must be {"weights": {"<version>": <percent>, ...}}')
        router.set_weights(weights)
        log.info("traffic set to %s", router.percentages())
        return _json({"weights": router.percentages()})

    async def add_version(request: Request) -> Response:
        body = await _body(request)
        try:
            spec = VersionSpec.from_json(body)
        except ConfigError as e:
            raise RouterError(str(e)) from None
        weight = body.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))
                                   or weight < 0):
            raise RouterError(f"weight must be a number >= 0, got {weight!r}")
        if spec.id in router.versions or spec.id in loading:
            raise RouterError(f"version {spec.id!r} is already loaded or loading", 409)
        loading.add(spec.id)
        log.info("loading version %s from %s (%s)", spec.id, spec.path, spec.format)
        try:
            version = await run_in_threadpool(load_version, spec, config.gpus,
                                              config.stats_capacity)
        except RunnerLoadError as e:
            log.error("version %s failed to load: %s", spec.id, e)
            raise RouterError(str(e), 422) from None
        finally:
            loading.discard(spec.id)
        router.add(version, float(weight) if weight is not None else None)
        log.info("version %s loaded in %.3fs on %s (%s)", version.id, version.load_seconds,
                 version.runner.device, version.digest)
        return _json(version.describe(), 201)

    async def list_versions(request: Request) -> Response:
        return _json({"versions": [v.describe() for v in router.versions.values()],
                      "weights": router.percentages()})

    async def remove_version(request: Request) -> Response:
        removed = router.remove(request.path_params["version"])
        log.info("version %s removed after %d requests", removed.id, removed.log.count)
        return _json({"removed": removed.id, "weights": router.percentages()})

    async def shutdown(request: Request) -> Response:
        def stop() -> None:
            log.info("shutdown requested through the admin API")
            if state.uvicorn is not None:
                state.uvicorn.should_exit = True
        return _json({"stopping": True, "pid": os.getpid()}, 202, BackgroundTask(stop))

    return [
        Route("/mlform/info", guarded(info), methods=["GET"]),
        Route("/mlform/stats", guarded(stats), methods=["GET"]),
        Route("/mlform/traffic", guarded(set_traffic), methods=["PUT"]),
        Route("/mlform/versions", guarded(list_versions), methods=["GET"]),
        Route("/mlform/versions", guarded(add_version), methods=["POST"]),
        Route("/mlform/versions/{version}", guarded(remove_version), methods=["DELETE"]),
        Route("/mlform/shutdown", guarded(shutdown), methods=["POST"]),
    ]
