"""A V2 (Open Inference Protocol) gateway on 127.0.0.1 in front of one SageMaker endpoint, for the gates.

SageMaker endpoints are invoked by ``InvokeEndpoint`` (SigV4-signed), not by the plain HTTP the eval
library's V2 clients speak. While a rollout's gates run, mlform listens on a free port of 127.0.0.1 and turns
``POST /v2/models/{name}/versions/{variant}/infer`` into ``InvokeEndpoint(TargetVariant=variant)`` with the
V2 request as body (mlform's serving image answers ``/invocations`` with the V2 infer response), so the gates
reach the staged variant alone, at 0% of user traffic. ``GET`` of the model answers its V2 metadata from the
model's inputs and outputs, read from the artifact here (SageMaker has no metadata call).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ROUTE = re.compile(r"^/v2/models/([^/]+)(?:/versions/([^/]+))?(/infer)?/?$")
# ONNX TensorProto element types -> V2 datatypes (the model's inputs/outputs as mlform records them)
ELEM = {1: "FP32", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64", 8: "BYTES", 9: "BOOL",
        10: "FP16", 11: "FP64", 12: "UINT32", 13: "UINT64"}


def metadata_of(model: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """A model artifact's V2 inputs and outputs, read from the file by mlform's own runner (as the serving
    image reads it); the recorded ``inputs``/``outputs`` when the file cannot be loaded here."""
    from mlform.providers.server.runners import RunnerError, load_runner

    try:
        runner = load_runner(str(model.get("path")), str(model.get("format") or "onnx"), gpus="none")
        return {"inputs": [t.to_json() for t in runner.inputs], "outputs": [t.to_json() for t in runner.outputs]}
    except (RunnerError, OSError, ValueError):
        return {"inputs": tensors(model.get("inputs")), "outputs": tensors(model.get("outputs"))}


def tensors(spec: Any) -> list[dict[str, Any]]:
    """V2 metadata tensors of a model's recorded ``inputs``/``outputs``."""
    out = []
    for t in spec if isinstance(spec, list) else []:
        if isinstance(t, dict) and t.get("name"):
            dt = t.get("datatype") or ELEM.get(int(t.get("elem_type") or 1), "FP32")
            out.append({"name": t["name"], "datatype": dt, "shape": list(t.get("shape") or [-1])})
    return out


class Gateway:
    def __init__(self, runtime: Any, endpoint: str, default_variant: str, model: dict[str, Any]) -> None:
        self.runtime, self.endpoint, self.default_variant = runtime, endpoint, default_variant
        meta = metadata_of(model)
        self.inputs, self.outputs = meta["inputs"], meta["outputs"]
        self._srv: ThreadingHTTPServer | None = None
        self.url = ""
        self.requests = 0

    def start(self) -> str:
        gw = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, code: int, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                m = ROUTE.match(self.path)
                if not m or m.group(3):
                    self._send(404, {"error": f"no route {self.path}"})
                    return
                self._send(200, {"name": m.group(1), "versions": [m.group(2) or gw.default_variant],
                                 "platform": "sagemaker", "inputs": gw.inputs, "outputs": gw.outputs})

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                m = ROUTE.match(self.path)
                if not m or not m.group(3):
                    self._send(404, {"error": f"no route {self.path}"})
                    return
                code, answer = gw.invoke(m.group(2) or gw.default_variant, body)
                self._send(code, answer)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self._srv, self.url = srv, f"http://127.0.0.1:{srv.server_address[1]}"
        return self.url

    def invoke(self, variant: str, body: bytes) -> tuple[int, dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError

        self.requests += 1
        try:
            r = self.runtime.invoke_endpoint(EndpointName=self.endpoint, TargetVariant=variant, Body=body,
                                             ContentType="application/json", Accept="application/json")
            return 200, dict(json.loads(r["Body"].read()))
        except ClientError as e:
            err = e.response.get("Error", {})
            status = 500 if err.get("Code") == "ModelError" else int(
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 502)
            return status, {"error": f"InvokeEndpoint of {self.endpoint}/{variant}: {err.get('Message', str(e))}"}
        except (BotoCoreError, ValueError) as e:
            return 502, {"error": f"InvokeEndpoint of {self.endpoint}/{variant}: {e}"}

    def stop(self) -> None:
        if self._srv is not None:
            self._srv.shutdown()
            self._srv.server_close()
            self._srv = None


__all__ = ["Gateway"]
