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

from mlform.providers.server.runners import InferenceInputError
from mlform.providers.server.binary import HEADER
from mlform.providers.server.batching import Batcher
from mlform.providers.server.config import (
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_REQUEST_BYTES, BatchingSpec,
)
from mlform.providers.server.limits import BodyError, inflate, read_body, too_large
from mlform.providers.server.codec import (
    BadRequest, decode_request, encode_binary, encode_response, error_body,
)
from mlform.providers.server.router import ModelVersion, Router
from mlform.providers.server.stats import CLIENT_ERROR, OK, SERVER_ERROR

log = logging.getLogger("mlform.server")
_perf = time.perf_counter
_mono = time.monotonic
_JSON_HEADER = (b"content-type", b"application/json")
_BINARY_HEADER = (b"content-type", b"application/octet-stream")
_RETRY = ((b"retry-after", b"1"),)
_CLOSE = ((b"connection", b"close"),)
# Bodies above this are decoded, run and encoded on a worker thread (with large JSON
# arrays parsed in GIL-releasing slices), so the event loop keeps answering.
OFFLOAD_BODY_BYTES = 256 << 10
# JSON above this is parsed in GIL-releasing slices (:mod:`.largejson`); below it orjson and
# np.asarray on the worker thread are about 3x faster a value and hold the GIL for at most
# ~4 ms (1 MiB: orjson 3 ms, np.asarray 1 ms on the 2-vCPU development machine).
SLICED_JSON_BYTES = 1 << 20
# Outputs with more values than this are encoded on a worker thread.
OFFLOAD_OUTPUT_VALUES = 1 << 16


def _int_or_none(value: bytes) -> int | None:
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 0 else None


async def send_json(send: Send, status: int, payload: bytes,
                    extra: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Send a complete JSON response in two ASGI messages."""
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON_HEADER, (b"content-length", str(len(payload)).encode()),
                            *extra]})
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


async def execute(version: ModelVersion, feed: dict[str, Any], outputs: list[str] | None,
                  batching: BatchingSpec | None) -> dict[str, Any]:
    """Run a decoded request on ``version``: in a batch when batching is on and the request
    can join one, else inline or on a worker thread (slow models); counts the run."""
    if batching is not None:
        batcher = version.batcher
        if batcher is None:
            batcher = version.batcher = Batcher(version, batching)
        key = batcher.key(feed)
        if key is not None:
            result: dict[str, Any] = await batcher.run(key[0], key[1], feed, outputs)
            return result
    if version.offload:
        # Timed inside the worker: the hop to the thread is not the model's cost, and
        # counting it (it grows with load) would keep a fast model off the loop for good.
        result, run_ms = await run_in_threadpool(_timed_run, version, feed, outputs)
    else:
        r0 = _perf()
        result = version.runner.run(feed, outputs)
        run_ms = (_perf() - r0) * 1000.0
    version.observe_run(run_ms)
    return result


class InFlight:
    """Infer requests being handled now, shared by both infer routes, and their bound."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int) -> None:
        self.count = 0
        self.limit = limit


class InferEndpoint:
    """``POST /v2/models/{name}/infer`` (router's pick) and
    ``POST /v2/models/{name}/versions/{version}/infer`` (that version)."""

    def __init__(self, name: str, router: Router, *, by_version: bool,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 in_flight: InFlight | None = None, batching: BatchingSpec | None = None
                 ) -> None:
        self.name = name
        self.batching = batching
        self.router = router
        self.by_version = by_version
        self.max_request_bytes = max_request_bytes
        self.in_flight = in_flight or InFlight(DEFAULT_MAX_IN_FLIGHT)

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
        flight = self.in_flight
        if flight.count >= flight.limit:
            await send_json(send, 503, error_body(
                f"the server is handling {flight.count} requests, its limit (max_in_flight); "
                "retry shortly"), _RETRY)
            return
        flight.count += 1
        try:
            await self._handle(version, scope, receive, send)
        finally:
            flight.count -= 1

    async def _handle(self, version: ModelVersion, scope: Scope, receive: Receive,
                      send: Send) -> None:
        header_length: int | None = None
        encoding: bytes | None = None
        declared: bytes | None = None
        for key, value in scope["headers"]:
            if key == HEADER:
                header_length = _int_or_none(value)
                if header_length is None:
                    await send_json(send, 400, error_body(
                        f"Inference-Header-Content-Length must be a byte count, got "
                        f"{value.decode(errors='replace')!r}"))
                    return
            elif key == b"content-length":
                declared = value
            elif key == b"content-encoding":
                encoding = value
        limit = self.max_request_bytes
        try:
            if declared is not None and (_int_or_none(declared) or 0) > limit:
                raise too_large(int(declared), limit)
            body = await read_body(receive, limit)
            if encoding is not None:
                if len(body) > OFFLOAD_BODY_BYTES:  # zlib releases the GIL: off the loop
                    body = await run_in_threadpool(inflate, body, encoding.decode("latin-1"), limit)
                else:
                    body = inflate(body, encoding.decode("latin-1"), limit)
        except BodyError as e:
            version.log.record(_mono(), 0.0, CLIENT_ERROR)
            # 413: the client may still be sending; close rather than read the rest.
            await send_json(send, e.status, error_body(str(e)),
                            _CLOSE if e.status == 413 else ())
            return
        status, payload, binary_length = await self.infer(version, body, header_length)
        if binary_length is None:
            await send_json(send, status, payload)
        else:
            await send_binary(send, payload, binary_length)

    async def infer(self, version: ModelVersion, body: bytes, header_length: int | None = None
                    ) -> tuple[int, bytes, int | None]:
        """Run one V2 request on ``version``: (HTTP status, response body, and the JSON
        header's length when the body is a binary-extension one)."""
        t0 = _perf()
        try:
            if len(body) > OFFLOAD_BODY_BYTES:
                payload, binary_length, run_ms = await run_in_threadpool(
                    self._whole, version, body, header_length)
                version.observe_run(run_ms)
            else:
                feed, outputs, req_id, binary = decode_request(
                    body, version.inputs, version.output_names, version.input_word, header_length)
                if self.batching is None and not version.offload:
                    # The common case inline: a coroutine call costs ~1 us, 3% of the app
                    # layer on a small model.
                    r0 = _perf()
                    result = version.runner.run(feed, outputs)
                    version.observe_run((_perf() - r0) * 1000.0)
                else:
                    result = await execute(version, feed, outputs, self.batching)
                values = 0
                for a in result.values():
                    values += a.size
                if values > OFFLOAD_OUTPUT_VALUES:
                    payload, binary_length = await run_in_threadpool(
                        self._encode, version, req_id, result, binary)
                else:
                    payload, binary_length = self._encode(version, req_id, result, binary)
        except (BadRequest, InferenceInputError) as e:
            version.log.record(_mono(), (_perf() - t0) * 1000.0, CLIENT_ERROR)
            return 400, error_body(str(e)), None
        except Exception as e:  # the model failed: answer 500, count it, keep serving
            log.exception("version %s: inference failed", version.id)
            version.log.record(_mono(), (_perf() - t0) * 1000.0, SERVER_ERROR)
            return 500, error_body(f"inference failed on version {version.id}: {e}"), None
        version.log.record(_mono(), (_perf() - t0) * 1000.0, OK)
        return 200, payload, binary_length

    def _encode(self, version: ModelVersion, req_id: Any, result: dict[str, Any],
                binary: frozenset[str]) -> tuple[bytes, int | None]:
        if binary:
            return encode_binary(self.name, version.id, req_id, result, binary)
        return encode_response(self.name, version.id, req_id, result), None

    def _whole(self, version: ModelVersion, body: bytes, header_length: int | None
               ) -> tuple[bytes, int | None, float]:
        """Decode, run and encode a large request, on a worker thread."""
        feed, outputs, req_id, binary = decode_request(
            body, version.inputs, version.output_names, version.input_word, header_length,
            large=(header_length or len(body)) > SLICED_JSON_BYTES)
        result, run_ms = _timed_run(version, feed, outputs)
        payload, binary_length = self._encode(version, req_id, result, binary)
        return payload, binary_length, run_ms
