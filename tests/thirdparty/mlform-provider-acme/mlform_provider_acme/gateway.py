"""The Acme gateway: the data plane of the make-believe cloud (a test fixture, not a product).

It serves every endpoint in a cloud folder (``cloud.py``) over the Open
Inference Protocol V2 REST routes, running each version's ONNX file with
onnxruntime, and routes a request that names no version by the endpoint's
weights (smooth weighted round robin, so 10% is one request in ten)::

    python -m mlform_provider_acme.gateway CLOUD_FOLDER [--port N]
    # prints "acme gateway on http://127.0.0.1:PORT", then serves until killed

Routes: ``GET /v2/health/ready``; ``GET /v2/models/{name}[/versions/{v}]``
(metadata); ``POST /v2/models/{name}[/versions/{v}]/infer``; and Acme's own
``GET /acme/v1/endpoints/{name}/routing`` (the weights it routes with now) and
``GET /acme/v1/endpoints/{name}/stats?version=V&window=SECONDS`` (requests,
server errors and latency percentiles of one version over a window), which
the provider's rollout driver reads to verify weights and observe.

A staged version (weight 0) answers only callers that send its endpoint's
region in ``X-Acme-Region``: the rollout's gates do, through the
``GateTarget`` headers the driver returns.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np

from mlform_provider_acme.cloud import Cloud

_DATATYPES = {"tensor(float)": ("FP32", np.float32), "tensor(double)": ("FP64", np.float64),
              "tensor(int64)": ("INT64", np.int64), "tensor(int32)": ("INT32", np.int32)}
_NUMPY = {name: t for name, t in _DATATYPES.values()}


class Gateway:
    """Routing, model sessions and per-version figures for one cloud folder."""

    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._sessions: dict[str, Any] = {}
        self._rr: dict[str, dict[str, float]] = {}
        self._seen: deque[tuple[float, str, str, bool, float]] = deque(maxlen=100_000)
        self._lock = threading.Lock()

    def session(self, path: str) -> Any:
        with self._lock:
            if path not in self._sessions:
                import onnxruntime as ort

                self._sessions[path] = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            return self._sessions[path]

    def pick(self, name: str, weights: dict[str, int]) -> str:
        """The version the next unversioned request goes to."""
        with self._lock:
            cur = self._rr.setdefault(name, {})
            total = sum(weights.values())
            for v, w in weights.items():
                cur[v] = cur.get(v, 0.0) + w
            best = max((v for v in weights if weights[v] > 0), key=lambda v: cur[v])
            cur[best] -= total
            return best

    def record(self, name: str, version: str, ok: bool, ms: float) -> None:
        self._seen.append((time.monotonic(), name, version, ok, ms))

    def stats(self, name: str, version: str, window: float) -> dict[str, Any]:
        since = time.monotonic() - window
        got = [(ok, ms) for t, n, v, ok, ms in list(self._seen) if t >= since and n == name and v == version]
        lat = sorted(ms for _ok, ms in got)
        errors = sum(1 for ok, _ms in got if not ok)

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        return {"request_count": len(got), "error_count": errors, "error_rate": errors / len(got) if got else 0.0,
                "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}


def _metadata(name: str, version: str, sess: Any) -> dict[str, Any]:
    def tensors(items: Any) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": _DATATYPES.get(t.type, ("BYTES", None))[0],
                 "shape": [d if isinstance(d, int) else -1 for d in t.shape]} for t in items]
    return {"name": name, "versions": [version], "platform": "onnxruntime_onnx",
            "inputs": tensors(sess.get_inputs()), "outputs": tensors(sess.get_outputs())}


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway

    def log_message(self, *args: Any) -> None:
        return None

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["v2", "health", "ready"] or parts == ["v2", "health", "live"]:
            return self._send(200, {"ready": True})
        if parts[:3] == ["acme", "v1", "endpoints"] and len(parts) == 5:
            obj = self.gateway.cloud.get(parts[3])
            if obj is None:
                return self._send(404, {"error": f"no endpoint {parts[3]!r} in this cloud"})
            if parts[4] == "routing":
                return self._send(200, {"weights": obj.get("weights", {})})
            if parts[4] == "stats":
                q = parse_qs(url.query)
                return self._send(200, self.gateway.stats(parts[3], q.get("version", [""])[0],
                                                          float(q.get("window", ["10"])[0])))
        found = self._model(parts, infer=False)
        if found is not None:
            name, version, obj = found
            self._send(200, _metadata(name, version, self.gateway.session(obj["versions"][version]["path"])))

    def do_POST(self) -> None:
        parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
        found = self._model(parts, infer=True)
        if found is None:
            return
        name, version, obj = found
        start = time.perf_counter()
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            sess = self.gateway.session(obj["versions"][version]["path"])
            feeds = {t["name"]: np.asarray(t["data"], dtype=_NUMPY.get(t["datatype"], np.float32))
                     .reshape(t["shape"]) for t in body["inputs"]}
        except (ValueError, KeyError, TypeError) as e:
            return self._send(400, {"error": f"not a V2 inference request: {type(e).__name__}: {e}"})
        try:
            outs = sess.run(None, feeds)
        except Exception as e:  # the model refused the inputs: the server's error, counted as such
            self.gateway.record(name, version, False, (time.perf_counter() - start) * 1000)
            return self._send(500, {"error": f"model run failed: {e}"})
        outputs = [{"name": meta.name, "datatype": _DATATYPES.get(meta.type, ("FP32", None))[0],
                    "shape": list(arr.shape), "data": arr.reshape(-1).tolist()}
                   for meta, arr in zip(sess.get_outputs(), outs)]
        self.gateway.record(name, version, True, (time.perf_counter() - start) * 1000)
        self._send(200, {"model_name": name, "model_version": version, "outputs": outputs})

    def _model(self, parts: list[str], infer: bool) -> tuple[str, str, dict[str, Any]] | None:
        """``(name, version, object)`` for a V2 model route, or ``None`` after answering an error."""
        if infer and parts[-1:] == ["infer"]:
            parts = parts[:-1]
        elif infer:
            self._send(404, {"error": "not found"})
            return None
        if parts[:2] != ["v2", "models"] or len(parts) not in (3, 5) or (len(parts) == 5 and parts[3] != "versions"):
            self._send(404, {"error": "not found"})
            return None
        obj = self.gateway.cloud.get(parts[2])
        if obj is None:
            self._send(404, {"error": f"no model {parts[2]!r} is served here"})
            return None
        weights = {str(k): int(v) for k, v in obj.get("weights", {}).items()}
        version = parts[4] if len(parts) == 5 else (self.gateway.pick(parts[2], weights) if infer else
                                                   max(weights, key=lambda v: weights[v]))
        if version not in obj.get("versions", {}):
            self._send(404, {"error": f"model {parts[2]!r} has no version {version!r}"})
            return None
        if weights.get(version, 0) == 0 and self.headers.get("X-Acme-Region") != obj.get("region"):
            self._send(403, {"error": f"version {version!r} is staged: send X-Acme-Region: {obj.get('region')}"})
            return None
        return parts[2], version, obj


def serve(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    """A gateway over ``folder`` on ``127.0.0.1:port`` (0: any free port); call ``serve_forever``."""
    handler = type("Handler", (_Handler,), {"gateway": Gateway(Cloud(folder))})
    srv = ThreadingHTTPServer(("127.0.0.1", port), handler)
    srv.daemon_threads = True
    return srv


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlform_provider_acme.gateway")
    ap.add_argument("cloud", type=Path, help="the cloud folder (<project>/.mlform/acme-cloud)")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    srv = serve(args.cloud, args.port)
    print(f"acme gateway on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
