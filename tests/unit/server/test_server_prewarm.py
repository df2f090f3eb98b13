"""After start-up the server imports nothing more: an import on the event loop stalls
every request in flight (a rollout's first version load and first stats poll each
held all clients 10-25 ms before prewarm existed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

QUICKSTART_MODELS = Path(__file__).resolve().parents[3] / "examples" / "quickstart" / "models"

# Runs in a fresh interpreter: the server's start-up, a snapshot of sys.modules, then
# every route a rollout uses, called as ASGI (a stats window big enough for the
# worker-thread path), then the modules imported since.
DRIVER = r'''
import asyncio, json, sys
import numpy as np
import uvicorn
from mlform.providers.server.app import ServerState, create_app, prewarm
from mlform.providers.server.config import ServerConfig, VersionSpec
from mlform.providers.server.router import Router, load_version
from mlform.providers.server import admin

models = sys.argv[1]
router = Router()
router.add(load_version(VersionSpec("a", models + "/sentiment-v1.onnx"), "none", 1 << 16))
app = create_app(ServerState(ServerConfig(name="m", token="t", gpus="none"), router))
uvicorn.Config(app, lifespan="off").load()
if sys.argv[2] == "prewarm":
    prewarm()
before = set(sys.modules)

async def call(method, path, body=b"", query=b""):
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
             "query_string": query, "http_version": "1.1", "scheme": "http", "root_path": "",
             "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
             "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json")]}
    sent = []
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}
    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    return sent[0]["status"]

row = json.dumps({"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32",
                              "data": [0] * 8}]}).encode()
async def rollout():
    statuses = [await call("GET", "/v2/health/ready"), await call("GET", "/v2/models/m")]
    for _ in range(admin.INLINE_STATS_SAMPLES + 1):
        await call("POST", "/v2/models/m/infer", row)
    statuses += [
        await call("POST", "/v2/models/m/infer", b"{not json"),
        await call("POST", "/mlform/versions", json.dumps({"id": "b", "path": models + "/sentiment-v2.onnx"}).encode()),
        await call("POST", "/v2/models/m/versions/b/infer", row),
        await call("PUT", "/mlform/traffic", json.dumps({"weights": {"a": 50, "b": 50}}).encode()),
        await call("GET", "/mlform/stats", query=b"window=60"),
        await call("GET", "/mlform/stats", query=b"window=60&version=b"),
        await call("GET", "/mlform/info"),
        await call("GET", "/mlform/versions"),
        await call("GET", "/metrics"),
        await call("PUT", "/mlform/traffic", json.dumps({"weights": {"a": 100}}).encode()),
        await call("DELETE", "/mlform/versions/b"),
    ]
    return statuses

print(json.dumps({"statuses": asyncio.run(rollout()), "imported": sorted(set(sys.modules) - before),
                  "backend_at_start": "anyio._backends._asyncio" in before}))
'''


def _drive(mode: str) -> dict:  # type: ignore[type-arg]
    import json

    r = subprocess.run([sys.executable, "-c", DRIVER, str(QUICKSTART_MODELS), mode],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_no_route_imports_anything_after_prewarm() -> None:
    out = _drive("prewarm")
    assert out["statuses"] == [200, 200, 400, 201, 200, 200, 200, 200, 200, 200, 200, 200, 200]
    assert out["imported"] == []
    # Loaded by prewarm itself (through anyio's public API), not by the first request.
    assert out["backend_at_start"] is True


def test_without_prewarm_the_first_rollout_would_import_on_the_event_loop() -> None:
    # The other side of the check above: the driver does reach the lazy imports.
    out = _drive("none")
    assert out["backend_at_start"] is False
    assert "anyio._backends._asyncio" in out["imported"]
