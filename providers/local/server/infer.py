"""The infer endpoints: the server's hot path, as plain ASGI callables.

Starlette routes to them (``Route(path, InferEndpoint(...))``) but they skip
its ``Request``/``Response`` objects and exception wrappers: read the body
from ``receive``, pick the version, decode, run (inline, or in a worker thread
for slow models), encode, send two messages, record one sample. Every
outcome, error or not, lands in the picked version's ring buffer.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from mlform.providers.local.runners import InferenceInputError
from mlform.providers.local.server.binary import HEADER
from mlform.providers.local.server.codec import (
    BadRequest, decode_request, encode_binary, encode_response, error_body,
)
from mlform.providers.local.server.router import ModelVersion, Router
from mlform.providers.local.server.stats import CLIENT_ERROR, OK, SERVER_ERROR

log = logging.getLogger("mlform.server")
_perf = time.perf_counter
_mono = time.monotonic
_JSON_HEADER = (b"content-type", b"application/json")
_BINARY_HEADER = (b"content-type", b"application/octet-stream")


async def _read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if message.get("more_body"):
        chunks = [body]
        while message.get("more_body"):
            message = await receive()
            chunks.append(message.get("body", b""))
        body = b"".join(chunks)
    return body


async def send_json(send: Send, status: int, payload: bytes) -> None:
    """Send a complete JSON response in two ASGI messages."""
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON_HEADER, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def send_binary(send: Send, payload: bytes, header_length: int) -> None:
    """Send a binary-extension response: JSON header of ``header_length`` bytes, then data."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [_BINARY_HEADER, (b"content-length", str(len(payload)).encode()),
                            (HEADER, str(header_length).encode())]})
    await send({"type": "http.response.body", "body": payload})


def _timed_run(version: ModelVersion, feed: Any, outputs: Any) -> tuple[Any, float]:
    r0 = _perf()
    result = version.runner.run(feed, outputs)
    return result, (_perf() - r0) * 1000.0


class InferEndpoint:
    """``POST /v2/models/{name}/infer`` (router's pick) and
    ``POST /v2/models/{name}/versions/{version}/infer`` (that version)."""

    def __init__(self, name: str, router: Router, *, by_version: bool) -> None:
        self.name = name
        self.router = router
        self.by_version = by_version

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope["path_params"]
        if params["name"] != self.name:
            await send_json(send, 404, error_body(
                f"unknown model {params['name']!r}; this server serves {self.name!r}"))
            return
        if self.by_version:
            version = self.router.versions.get(params["version"])
            if version is None:
                await send_json(send, 404, error_body(
                    f"model {self.name!r} has no version {params['version']!r} (loaded: "
                    f"{', '.join(self.router.versions) or 'none'})"))
                return
        else:
            version = self.router.pick()
            if version is None:
                await send_json(send, 503, error_body("no model version receives traffic"))
                return
        header_length: int | None = None
        for key, value in scope["headers"]:
            if key == HEADER:
                try:
                    header_length = int(value)
                except ValueError:
                    await send_json(send, 400, error_body(
                        f"Inference-Header-Content-Length must be a byte count, got "
                        f"{value.decode(errors='replace')!r}"))
                    return
        status, payload, binary_length = await self.infer(
            version, await _read_body(receive), header_length)
        if binary_length is None:
            await send_json(send, status, payload)
        else:
            await send_binary(send, payload, binary_length)

    async def infer(self, version: ModelVersion, body: bytes, header_length: int | None = None
                    ) -> tuple[int, bytes, int | None]:
        """Run one V2 request on ``version``: (HTTP status, response body, and the JSON
        header's length when the body is a binary-extension one)."""
        t0 = _perf()
        binary_length = None
        try:
            feed, outputs, req_id, binary = decode_request(
                body, version.inputs, version.output_names, version.input_word, header_length)
            if version.offload:
                # Timed inside the worker: the hop to the thread is not the model's cost, and
                # counting it (it grows with load) would keep a fast model off the loop for good.
                result, run_ms = await run_in_threadpool(_timed_run, version, feed, outputs)
            else:
                r0 = _perf()
                result = version.runner.run(feed, outputs)
                run_ms = (_perf() - r0) * 1000.0
            version.observe_run(run_ms)
            if binary:
                payload, binary_length = encode_binary(self.name, version.id, req_id, result,
                                                       binary)
            else:
                payload = encode_response(self.name, version.id, req_id, result)
        except (BadRequest, InferenceInputError) as e:
            version.log.record(_mono(), (_perf() - t0) * 1000.0, CLIENT_ERROR)
            return 400, error_body(str(e)), None
        except Exception as e:  # the model failed: answer 500, count it, keep serving
            log.exception("version %s: inference failed", version.id)
            version.log.record(_mono(), (_perf() - t0) * 1000.0, SERVER_ERROR)
            return 500, error_body(f"inference failed on version {version.id}: {e}"), None
        version.log.record(_mono(), (_perf() - t0) * 1000.0, OK)
        return 200, payload, binary_length
