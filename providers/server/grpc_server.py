"""The V2 gRPC service (KServe's ``GRPCInferenceService``) beside the HTTP server.

Served by ``grpc.aio`` on the same event loop as uvicorn, so it shares the
router, the in-flight bound, the adaptive batcher and the stats rings with
the HTTP routes, and every request it answers is counted like theirs. The
messages come from :mod:`.grpc_messages` (a checked-in descriptor, no
generated code). ``ModelInfer`` takes its request as bytes and parses it
itself, so a large one (over 256 KiB) is parsed, run and encoded on a worker
thread, as the HTTP path does; its outputs are always answered as
``raw_output_contents`` (as Triton does), inputs may come as
``raw_input_contents`` or typed ``contents``.

Status codes: ``NOT_FOUND`` (unknown model or version), ``INVALID_ARGUMENT``
(the request does not fit the model: the same messages as HTTP's 400s),
``INTERNAL`` (the model failed), ``UNAVAILABLE`` (no version receives
traffic, or ``max_in_flight`` requests are being handled),
``RESOURCE_EXHAUSTED`` (a message over ``max_request_bytes``, refused by grpc).
Needs the ``mlform[grpc]`` extra; imported only when ``grpc_port`` is set.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import grpc
import numpy as np
from starlette.concurrency import run_in_threadpool

from mlform.providers.server.runners import V2_TO_NUMPY, InferenceInputError
from mlform.providers.server import grpc_messages as pb
from mlform.providers.server.app import EXTENSIONS, mlform_version
from mlform.providers.server.binary import BinaryDataError, decode_tensor, encode_tensor
from mlform.providers.server.codec import BadRequest, check_shape
from mlform.providers.server.infer import OFFLOAD_BODY_BYTES, execute
from mlform.providers.server.router import ModelVersion
from mlform.providers.server.stats import CLIENT_ERROR, OK, SERVER_ERROR

log = logging.getLogger("mlform.server")
_perf = time.perf_counter
_mono = time.monotonic
# V2 datatype -> the InferTensorContents field that carries it
_CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
             "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
             "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
             "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents"}


class _Failure(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def decode_infer(req: Any, version: ModelVersion) -> tuple[dict[str, np.ndarray], list[str] | None]:
    """The feed and requested outputs of a ``ModelInferRequest``; raises :class:`BadRequest`."""
    inputs, what = version.inputs, version.input_word
    raw = req.raw_input_contents
    if raw and len(raw) != len(req.inputs):
        raise BadRequest(f"raw_input_contents has {len(raw)} entries but the request has "
                         f"{len(req.inputs)} inputs")
    if not req.inputs:
        raise BadRequest("request needs a non-empty 'inputs' list")
    feed: dict[str, np.ndarray] = {}
    for i, t in enumerate(req.inputs):
        spec = inputs.get(t.name)
        if spec is None:
            raise BadRequest(f"unknown {what} {t.name!r}; the model expects "
                             f"{', '.join(map(repr, inputs))}")
        if t.datatype != spec.datatype:
            raise BadRequest(f"input {t.name!r} has datatype {t.datatype!r} but the model "
                             f"expects {spec.datatype!r}")
        shape = list(t.shape)
        if any(d < 0 for d in shape):
            raise BadRequest(f"input {t.name!r} needs 'shape' as a list of non-negative integers")
        size = int(np.prod(shape)) if shape else 1
        if raw:
            try:
                arr = decode_tensor(memoryview(raw[i]), spec.datatype, size, t.name)
            except BinaryDataError as e:
                raise BadRequest(str(e).replace("binary data", "raw_input_contents")) from None
        else:
            arr = _from_contents(t, spec.datatype)
            if arr.size != size:
                raise BadRequest(f"input {t.name!r} has {arr.size} values but shape {shape} "
                                 f"needs {size}")
        if t.name in feed:
            raise BadRequest(f"{what} {t.name!r} is given twice")
        check_shape(t.name, shape, spec)
        feed[t.name] = arr.reshape(shape)
    if len(feed) != len(inputs):
        missing = [n for n in inputs if n not in feed]
        raise BadRequest(f"missing {what}(s) {', '.join(map(repr, missing))}; the model expects "
                         f"{', '.join(map(repr, inputs))}")
    names = [o.name for o in req.outputs]
    for n in names:
        if n not in version.output_names:
            raise BadRequest(f"unknown output {n!r}; the model has "
                             f"{', '.join(map(repr, sorted(version.output_names)))}")
    return feed, names or None


def _from_contents(t: Any, datatype: str) -> np.ndarray:
    field = _CONTENTS.get(datatype)
    if field is None:
        raise BadRequest(f"input {t.name!r}: {datatype} data must be sent as raw_input_contents")
    values = list(getattr(t.contents, field))
    if datatype != "BYTES":
        try:
            return np.asarray(values, dtype=V2_TO_NUMPY[datatype])
        except OverflowError:
            raise BadRequest(f"input {t.name!r}: a value does not fit {datatype}") from None
    arr = np.empty(len(values), dtype=object)
    for j, b in enumerate(values):
        try:
            arr[j] = b.decode()
        except UnicodeDecodeError:  # not text: the model gets the bytes as they are
            arr[j] = b
    return arr


def encode_infer(model: str, version_id: str, request_id: str,
                 result: dict[str, np.ndarray]) -> bytes:
    """A serialized ``ModelInferResponse`` with every output as raw_output_contents."""
    resp = pb.ModelInferResponse(model_name=model, model_version=version_id, id=request_id)
    for name, arr in result.items():
        arr = np.asarray(arr)
        datatype, raw = encode_tensor(arr)
        out = resp.outputs.add()
        out.name, out.datatype = name, datatype
        out.shape.extend(arr.shape)
        resp.raw_output_contents.append(raw)
    data: bytes = resp.SerializeToString()
    return data


class GrpcService:
    """The RPCs over the HTTP app's :class:`~.app.ServerState`."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.name: str = state.config.name
        self.router = state.router
        self.in_flight = state.in_flight
        self.batching = state.config.batching

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(fn: Any, request: Any, response: Any) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=request.FromString if request else None,
                response_serializer=response.SerializeToString if response else None)
        return grpc.method_handlers_generic_handler(pb.SERVICE, {
            "ServerLive": unary(self.server_live, pb.ServerLiveRequest, pb.ServerLiveResponse),
            "ServerReady": unary(self.server_ready, pb.ServerReadyRequest, pb.ServerReadyResponse),
            "ModelReady": unary(self.model_ready, pb.ModelReadyRequest, pb.ModelReadyResponse),
            "ServerMetadata": unary(self.server_metadata, pb.ServerMetadataRequest,
                                    pb.ServerMetadataResponse),
            "ModelMetadata": unary(self.model_metadata, pb.ModelMetadataRequest,
                                   pb.ModelMetadataResponse),
            "ModelInfer": unary(self.model_infer, None, None),  # bytes both ways
        })

    async def server_live(self, request: Any, context: Any) -> Any:
        return pb.ServerLiveResponse(live=True)

    async def server_ready(self, request: Any, context: Any) -> Any:
        return pb.ServerReadyResponse(ready=self.router.ready)

    async def model_ready(self, request: Any, context: Any) -> Any:
        if request.name != self.name:
            return pb.ModelReadyResponse(ready=False)
        if request.version:  # a loaded version is ready, whatever its weight
            return pb.ModelReadyResponse(ready=request.version in self.router.versions)
        return pb.ModelReadyResponse(ready=self.router.ready)

    async def server_metadata(self, request: Any, context: Any) -> Any:
        return pb.ServerMetadataResponse(name="mlform", version=mlform_version(),
                                         extensions=EXTENSIONS)

    async def model_metadata(self, request: Any, context: Any) -> Any:
        try:
            version = self._version(request.name, request.version, picked=False)
        except _Failure as e:
            await context.abort(e.code, str(e))
        versions = [version.id] if request.version else list(self.router.versions)
        resp = pb.ModelMetadataResponse(name=self.name, versions=versions,
                                        platform=version.runner.platform)
        for specs, field in ((version.runner.inputs, resp.inputs),
                             (version.runner.outputs, resp.outputs)):
            for s in specs:
                field.add(name=s.name, datatype=s.datatype, shape=list(s.shape))
        return resp

    def _version(self, name: str, vid: str, *, picked: bool) -> ModelVersion:
        if name != self.name:
            raise _Failure(grpc.StatusCode.NOT_FOUND,
                           f"unknown model {name!r}; this server serves {self.name!r}")
        if vid:
            version: ModelVersion | None = self.router.versions.get(vid)
            if version is None:
                raise _Failure(grpc.StatusCode.NOT_FOUND, f"model {self.name!r} has no version "
                               f"{vid!r} (loaded: {', '.join(self.router.versions) or 'none'})")
            return version
        version = self.router.pick() if picked else self.router.primary()
        if version is None:
            raise _Failure(grpc.StatusCode.UNAVAILABLE, "no model version receives traffic")
        return version

    async def model_infer(self, body: bytes, context: Any) -> bytes:
        flight = self.in_flight
        if flight.count >= flight.limit:
            await context.abort(grpc.StatusCode.UNAVAILABLE, (
                f"the server is handling {flight.count} requests, its limit (max_in_flight); "
                "retry shortly"))
        flight.count += 1
        try:
            return await self._infer(body)
        except _Failure as e:
            await context.abort(e.code, str(e))
        finally:
            flight.count -= 1
        raise AssertionError("unreachable")  # abort raises

    async def _infer(self, body: bytes) -> bytes:
        large = len(body) > OFFLOAD_BODY_BYTES
        try:
            req = (await run_in_threadpool(pb.ModelInferRequest.FromString, body) if large
                   else pb.ModelInferRequest.FromString(body))
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError, by runtime
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT,
                           f"request is not a valid ModelInferRequest: {e}") from None
        version = self._version(req.model_name, req.model_version, picked=True)
        t0 = _perf()
        try:
            if large:
                payload, run_ms = await run_in_threadpool(self._whole, version, req)
                version.observe_run(run_ms)
            else:
                feed, outputs = decode_infer(req, version)
                result = await execute(version, feed, outputs, self.batching)
                payload = encode_infer(self.name, version.id, req.id, result)
        except (BadRequest, InferenceInputError) as e:
            version.log.record(_mono(), (_perf() - t0) * 1000.0, CLIENT_ERROR)
            raise _Failure(grpc.StatusCode.INVALID_ARGUMENT, str(e)) from None
        except Exception as e:  # the model failed: INTERNAL, count it, keep serving
            log.exception("version %s: inference failed", version.id)
            version.log.record(_mono(), (_perf() - t0) * 1000.0, SERVER_ERROR)
            raise _Failure(grpc.StatusCode.INTERNAL,
                           f"inference failed on version {version.id}: {e}") from None
        version.log.record(_mono(), (_perf() - t0) * 1000.0, OK)
        return payload

    def _whole(self, version: ModelVersion, req: Any) -> tuple[bytes, float]:
        """Decode, run and encode a large request, on a worker thread."""
        feed, outputs = decode_infer(req, version)
        r0 = _perf()
        result = version.runner.run(feed, outputs)
        run_ms = (_perf() - r0) * 1000.0
        return encode_infer(self.name, version.id, req.id, result), run_ms


async def start_grpc(state: Any, host: str, port: int) -> tuple[Any, int]:
    """Start the service on host:port (0: any free port) on the running loop; returns the
    server and the port bound. Raises ``OSError`` when the port cannot be bound."""
    limit = state.config.max_request_bytes
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                      ("grpc.max_send_message_length", -1),
                                      ("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((GrpcService(state).handler(),))
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:  # grpc raises when it cannot bind
        raise OSError(str(e)) from None
    if not bound:
        raise OSError(f"cannot bind {address}")
    await server.start()
    return server, bound
