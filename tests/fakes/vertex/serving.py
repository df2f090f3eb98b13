"""Predictions of the FAKE Vertex AI (see the package docstring): a real model server per deployed model.

A deployed model's artifact is copied from GCS (``artifact_uri``, through
gcp-storage-emulator via ``STORAGE_EMULATOR_HOST``) and served by mlform's
own V2 server, started as the local provider starts it. The fake's HTTP port
is the endpoints' dedicated DNS and answers the ``invoke`` routes:

- ``/v1/{endpoint}/invoke/{route}``: a deployed model drawn by the traffic split;
- ``/v1/{endpoint}/deployedModels/{id}/invoke/{route}``: that deployed model, whatever its traffic.

``{route}`` is forwarded to the model server as is (``/v2/models/...``).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mlform.providers.local import process as P
from mlform.providers.server.config import VersionSpec

if TYPE_CHECKING:
    from google.cloud import aiplatform_v1 as aip

    from tests.fakes.vertex.services import FakeVertex

ROUTE = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/endpoints/[^/]+)(?:/deployedModels/([^/]+))?/invoke(/.*)$")


class Serving:
    def __init__(self, root: Path, fake: FakeVertex) -> None:
        self.root, self.fake = root, fake
        self.servers: dict[str, P.ServerHandle] = {}  # deployed model id -> its model server
        self.lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self.host = ""
        self.client = httpx.Client(timeout=30, trust_env=False)
        self.stopped = False
        self.direct: dict[str, int] = {}  # deployed model id -> requests sent to it by its own route

    def start(self, port: int = 0) -> None:
        serving = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()  # headers and body go out as two writes: no Nagle wait between them
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                serving.forward(self, b"")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                serving.forward(self, self.rfile.read(n) if n else b"")

        srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self._http, self.host = srv, f"127.0.0.1:{srv.server_address[1]}"

    def stop(self) -> None:
        self.stopped = True  # an operation still running (a slow deploy) starts no server after this
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        with self.lock:
            handles, self.servers = list(self.servers.values()), {}
        for h in handles:
            P.stop_server(h)
        self.client.close()

    # --- deployed models -----------------------------------------------------------------
    def deploy(self, dm_id: str, model: aip.Model) -> None:
        from tests.fakes.vertex.records import Abort
        import grpc

        if self.stopped:
            raise Abort(grpc.StatusCode.UNAVAILABLE, "The service is shutting down.")
        env = {e.name: e.value for e in model.container_spec.env}
        name, version = env.get("MLFORM_MODEL_NAME"), env.get("MLFORM_VERSION")
        if not name or not version:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, "The model's container did not become ready: "
                        "this fake serves only models uploaded by mlform (MLFORM_MODEL_NAME, MLFORM_VERSION).")
        work = self.root / "deployed" / dm_id
        path = self._download(model.artifact_uri, work / "artifact", env.get("MLFORM_MODEL_FILE", ""))
        try:
            h = P.start_server(name, work, [VersionSpec(version, str(path), env.get("MLFORM_MODEL_FORMAT") or "onnx")],
                               gpus="none", timeout=90)
        except (P.ServerStartError, OSError) as e:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, f"The model's container did not become ready: {e}")
        with self.lock:
            if not self.stopped:
                self.servers[dm_id] = h
                return
        P.stop_server(h)

    def undeploy(self, dm_id: str) -> None:
        with self.lock:
            h = self.servers.pop(dm_id, None)
        if h is not None:
            P.stop_server(h)
            shutil.rmtree(self.root / "deployed" / dm_id, ignore_errors=True)

    def _download(self, uri: str, dest: Path, file: str) -> Path:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

        from tests.fakes.vertex.records import Abort
        import grpc

        bucket, _, prefix = uri.removeprefix("gs://").partition("/")
        anon = AnonymousCredentials()  # type: ignore[no-untyped-call, unused-ignore]
        client = storage.Client(project="vertex-fake", credentials=anon)
        dest.mkdir(parents=True, exist_ok=True)
        got = None
        for blob in client.list_blobs(bucket, prefix=prefix.rstrip("/") + "/"):
            target = dest / Path(blob.name).name
            blob.download_to_filename(str(target))
            if not file or target.name == file:
                got = target
        if got is None:
            raise Abort(grpc.StatusCode.FAILED_PRECONDITION, f"No model artifact found under {uri}.")
        return got

    # --- requests ------------------------------------------------------------------------
    def forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        m = ROUTE.match(h.path)
        if m is None:
            return _reply(h, 404, {"error": {"code": 404, "message": f"No route {h.path}.", "status": "NOT_FOUND"}})
        endpoint, dm_id, route = m.groups()
        from tests.fakes.vertex.records import pick

        with self.fake.lock:
            ep = self.fake.reg.endpoints.get(endpoint)
            split = dict(ep.traffic_split) if ep is not None else {}
            ids = {d.id for d in ep.deployed_models} if ep is not None else set()
        if ep is None:
            return _reply(h, 404, {"error": {"code": 404, "message": f'Endpoint "{endpoint}" not found.',
                                             "status": "NOT_FOUND"}})
        if dm_id is not None:
            with self.lock:
                self.direct[dm_id] = self.direct.get(dm_id, 0) + 1
        else:
            if not any(v > 0 for v in split.values()):
                return _reply(h, 400, {"error": {"code": 400, "status": "FAILED_PRECONDITION",
                                                 "message": f"Endpoint {endpoint} has no traffic split."}})
            dm_id = pick(split)
        with self.lock:
            server = self.servers.get(dm_id) if dm_id in ids else None
        if server is None:
            return _reply(h, 404, {"error": {"code": 404, "status": "NOT_FOUND", "message":
                                             f"Deployed model {dm_id} not found on endpoint {endpoint}."}})
        try:
            r = self.client.request(h.command, server.url + route, content=body,
                                    headers={"Content-Type": h.headers.get("Content-Type") or "application/json"})
        except httpx.HTTPError as e:
            return _reply(h, 503, {"error": {"code": 503, "status": "UNAVAILABLE", "message": str(e)}})
        h.send_response(r.status_code)
        h.send_header("Content-Type", r.headers.get("content-type", "application/json"))
        h.send_header("Content-Length", str(len(r.content)))
        h.send_header("X-Vertex-AI-Deployed-Model-Id", dm_id)
        h.end_headers()
        h.wfile.write(r.content)


def _reply(h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
    data = json.dumps(obj).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(data)))
    h.end_headers()
    h.wfile.write(data)
