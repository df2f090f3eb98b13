"""What runs on the Ray cluster: the Serve applications the ray provider deploys.

An endpoint ``endpoint.NAME`` is one ingress application ``NAME`` (route
``/NAME``) plus one application per loaded version, ``NAME.v-<digest>`` (route
``/_mlform/NAME/v-<digest>``), each a deployment running mlform's runner for the
model format (``providers/server``). The ingress splits V2 requests between
versions by weight, from its ``user_config`` (``reconfigure``: a new split or a
new version is taken in place, without restarting a replica), and keeps each
version's request log, which ``GET /NAME/mlform/stats`` summarises for the
rollout's bakes. Versions are separate applications so that adding or removing
one never redeploys the others.

This module is imported by Serve on the cluster (``import_path``), and by no
code on the CLI's side, which only talks to Serve's REST API (``client.py``).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any, cast

import orjson
from ray import serve
from starlette.requests import Request
from starlette.responses import Response

from mlform.providers.server.codec import BadRequest, decode_request, encode_response, error_body
from mlform.providers.server.config import VersionSpec
from mlform.providers.server.router import load_version
from mlform.providers.server.runners import InferenceInputError, RunnerError
from mlform.providers.server.stats import CLIENT_ERROR, OK, SERVER_ERROR, RequestLog, window_stats

JSON = "application/json"
# Attempts of one infer call: a replica killed mid-request (its node lost, say) is retried on a
# live one, as inference is idempotent.
RETRIES = 4


def _json(obj: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(obj), status_code=status, media_type=JSON)


@serve.deployment(name="version")
class VersionServer:
    """One model version: V2 metadata, readiness and infer, on its own route (the gates')
    and behind the ingress's handle."""

    def __init__(self, model_name: str, version: str, path: str, format: str = "onnx",
                 digest: str | None = None, gpus: Any = "auto") -> None:
        # The artifact is read from a path every node can read (docs/ray.md); its digest is
        # checked against the planned one, so a node with another file refuses to start.
        self.name, self.version_id = model_name, version
        self.v = load_version(VersionSpec(version, path, format, digest), gpus, 1 << 12)

    def metadata(self) -> dict[str, Any]:
        return {"name": self.name, "versions": [self.version_id], "platform": self.v.runner.platform,
                "inputs": [s.to_json() for s in self.v.runner.inputs],
                "outputs": [s.to_json() for s in self.v.runner.outputs]}

    def infer(self, body: bytes) -> tuple[int, bytes]:
        try:
            feed, outs, req_id, _binary = decode_request(body, self.v.inputs, self.v.output_names,
                                                         self.v.input_word)
            result = self.v.runner.run(feed, outs)
        except (BadRequest, InferenceInputError) as e:
            return 400, error_body(str(e))
        except RunnerError as e:
            return 500, error_body(str(e))
        return 200, encode_response(self.name, self.version_id, req_id, result)

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if request.method == "POST" and path.endswith("/infer"):
            status, body = self.infer(await request.body())
            return Response(body, status_code=status, media_type=JSON)
        if path.endswith("/health/ready") or path.endswith("/health/live") or path.endswith("/ready"):
            return _json({"ready": True})
        if "/v2/models/" in path:
            return _json(self.metadata())
        return _json({"name": "mlform-ray", "version": self.version_id, "extensions": []})


def version_app(args: dict[str, Any]) -> Any:
    """The application builder Serve calls with the application's ``args``."""
    return cast(Any, VersionServer).bind(str(args["model_name"]), str(args["version"]), str(args["path"]),
                              str(args.get("format") or "onnx"), args.get("digest"), args.get("gpus", "auto"))


@serve.deployment(name="ingress", num_replicas=1, ray_actor_options={"num_cpus": 0})
class Ingress:
    """The endpoint's route: a weighted split between version applications (``user_config``:
    ``{"weights": {version: percent}, "apps": {version: app name}, ...}``), counting
    each version's requests, errors and latencies for the rollout's bakes."""

    def __init__(self, model_name: str) -> None:
        self.name = model_name
        self.weights: dict[str, float] = {}
        self.handles: dict[str, Any] = {}
        self.logs: dict[str, RequestLog] = {}
        self.config: dict[str, Any] = {}

    def reconfigure(self, config: dict[str, Any]) -> None:
        apps = {str(k): str(v) for k, v in (config.get("apps") or {}).items()}
        for vid, app in apps.items():
            if vid not in self.handles:
                self.handles[vid] = serve.get_deployment_handle("version", app_name=app)
                self.logs.setdefault(vid, RequestLog(1 << 16))
        self.weights = {str(k): float(v) for k, v in (config.get("weights") or {}).items() if str(k) in apps}
        for gone in set(self.handles) - set(apps):
            self.handles.pop(gone, None)
        self.config = dict(config)

    def _pick(self) -> str | None:
        live = [(v, w) for v, w in self.weights.items() if w > 0 and v in self.handles]
        if not live:
            return None
        x = random.uniform(0, sum(w for _, w in live))
        for v, w in live:
            x -= w
            if x <= 0:
                return v
        return live[-1][0]

    def _primary(self) -> str | None:
        return max(self.weights, key=lambda v: self.weights[v]) if self.weights else None

    async def __call__(self, request: Request) -> Response:
        path = request.url.path.rstrip("/")
        if path.endswith("/mlform/stats"):
            return self._stats(request)
        if path.endswith("/mlform/info"):
            return _json({"name": self.name, "weights": self.weights, "apps": self.config.get("apps", {}),
                          "address": self.config.get("address"), "operation_id": self.config.get("operation_id"),
                          "counts": {v: log.count for v, log in self.logs.items()}})
        if request.method == "POST" and path.endswith("/infer"):
            return await self._infer(path, await request.body())
        vid = self._primary()
        if vid is None:
            return _json({"error": "no version is serving"}, 503)
        if path.endswith("/health/ready") or path.endswith("/health/live"):
            return _json({"ready": True})
        meta = await self.handles[vid].metadata.remote()
        return _json(meta if "/v2/models/" in path else {"name": "mlform-ray", "extensions": []})

    async def _infer(self, path: str, body: bytes) -> Response:
        marker = "/versions/"
        vid = path.split(marker, 1)[1].split("/", 1)[0] if marker in path else self._pick()
        if vid is None or vid not in self.handles:
            return _json({"error": f"version {vid} is not served here" if vid else "no version is serving"},
                         404 if vid else 503)
        t0 = time.perf_counter()
        for attempt in range(RETRIES):
            try:
                status, out = await self.handles[vid].infer.remote(body)
                break
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a replica that died mid-request: retried on another
                if attempt + 1 < RETRIES:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                self.logs[vid].record(time.monotonic(), (time.perf_counter() - t0) * 1000, SERVER_ERROR)
                return _json({"error": f"version {vid} failed: {type(e).__name__}"}, 503)
        kind = OK if status < 400 else CLIENT_ERROR if status < 500 else SERVER_ERROR
        self.logs[vid].record(time.monotonic(), (time.perf_counter() - t0) * 1000, kind)
        return Response(out, status_code=status, media_type=JSON)

    def _stats(self, request: Request) -> Response:
        vid = request.query_params.get("version", "")
        window = float(request.query_params.get("window", "10"))
        if vid not in self.logs:
            return _json({"error": f"unknown version {vid!r}"}, 404)
        return _json(window_stats([self.logs[vid]], window, time.monotonic()).to_json())


def ingress_app(args: dict[str, Any]) -> Any:
    return cast(Any, Ingress).bind(str(args["model_name"]))
