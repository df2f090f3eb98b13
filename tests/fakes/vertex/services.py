"""The fake's gRPC services (a FAKE of Vertex AI: see the package docstring for why).

All state is in memory, behind one lock. Long-running operations finish in a
background thread and are reported done only from their second poll on.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any, Callable

import grpc
from google.cloud import aiplatform_v1 as aip
from google.longrunning import operations_pb2  # type: ignore[import-untyped, unused-ignore]
from google.protobuf import any_pb2, empty_pb2
from google.rpc import status_pb2  # type: ignore[import-untyped, unused-ignore]

from tests.fakes.vertex.records import MACHINE_TYPES, Abort, Fault, _matches, _Op, _Registry
from tests.fakes.vertex.serving import Serving

class FakeVertex:
    """The fake service on 127.0.0.1: ``grpc_target`` for the SDK clients, ``http_host`` for predictions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.reg = _Registry()
        self.ops: dict[str, _Op] = {}
        self.faults: list[Fault] = []
        self.calls: list[str] = []  # gRPC method names, in order
        self.lock = threading.RLock()
        self._ids = itertools.count(int(time.time()) % 100000 * 1000)
        self.serving = Serving(root, self)
        self._grpc: grpc.Server | None = None
        self.grpc_target = ""

    # --- lifecycle -----------------------------------------------------------------------
    def start(self, port: int = 0, http_port: int = 0) -> FakeVertex:
        """Listen on 127.0.0.1: gRPC on ``port``, predictions on ``http_port`` (0: free ports)."""
        self.serving.start(http_port)
        srv = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        srv.add_generic_rpc_handlers(self._handlers())
        port = srv.add_insecure_port(f"127.0.0.1:{port}")
        srv.start()
        self._grpc, self.grpc_target = srv, f"127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=1).wait()
        self.serving.stop()

    @property
    def http_host(self) -> str:
        return self.serving.host

    def inject(self, fault: Fault) -> None:
        with self.lock:
            self.faults.append(fault)

    def endpoint(self, name: str) -> aip.Endpoint | None:
        with self.lock:
            ep = self.reg.endpoints.get(name)
            return aip.Endpoint.deserialize(aip.Endpoint.serialize(ep)) if ep is not None else None

    def edit_endpoint(self, name: str, change: Callable[[aip.Endpoint], None], by: str = "") -> None:
        """Change an endpoint as someone outside mlform would (the console, gcloud): rules still apply."""
        with self.lock:
            ep = self.reg.endpoints[name]
            change(ep)
            self._touch(ep, by)

    def delete_endpoint_outside(self, name: str) -> None:
        """Delete an endpoint and stop its models, as `gcloud ai endpoints delete` after undeploying would."""
        with self.lock:
            ep = self.reg.endpoints.pop(name)
        for dm in ep.deployed_models:
            self.serving.undeploy(dm.id)

    # --- plumbing ------------------------------------------------------------------------
    def _fault(self, method: str, kinds: tuple[str, ...]) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.method == method and f.kind in kinds and f.count > 0:
                    f.count -= 1
                    return f
        return None

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(method: str, fn: Callable[[Any], Any], req_type: Any, resp_ser: Callable[[Any], bytes]) -> Any:
            def handle(request: Any, context: grpc.ServicerContext) -> Any:
                with self.lock:
                    self.calls.append(method)
                f = self._fault(method, ("error",))
                if f is not None:
                    context.abort(f.code, f.message)
                try:
                    return fn(request)
                except Abort as e:
                    context.abort(e.code, e.message)
            return grpc.unary_unary_rpc_method_handler(handle, request_deserializer=req_type.deserialize,
                                                       response_serializer=resp_ser)

        op_ser = operations_pb2.Operation.SerializeToString
        ep_ser = aip.Endpoint.serialize
        endpoint_service = {
            "CreateEndpoint": unary("CreateEndpoint", self.create_endpoint, aip.CreateEndpointRequest, op_ser),
            "GetEndpoint": unary("GetEndpoint", self.get_endpoint, aip.GetEndpointRequest, ep_ser),
            "ListEndpoints": unary("ListEndpoints", self.list_endpoints, aip.ListEndpointsRequest,
                                   aip.ListEndpointsResponse.serialize),
            "UpdateEndpoint": unary("UpdateEndpoint", self.update_endpoint, aip.UpdateEndpointRequest, ep_ser),
            "DeleteEndpoint": unary("DeleteEndpoint", self.delete_endpoint, aip.DeleteEndpointRequest, op_ser),
            "DeployModel": unary("DeployModel", self.deploy_model, aip.DeployModelRequest, op_ser),
            "UndeployModel": unary("UndeployModel", self.undeploy_model, aip.UndeployModelRequest, op_ser),
        }
        model_service = {
            "UploadModel": unary("UploadModel", self.upload_model, aip.UploadModelRequest, op_ser),
            "GetModel": unary("GetModel", self.get_model, aip.GetModelRequest, aip.Model.serialize),
            "ListModels": unary("ListModels", self.list_models, aip.ListModelsRequest,
                                aip.ListModelsResponse.serialize),
        }

        def get_operation(request: Any, context: grpc.ServicerContext) -> Any:
            try:
                return self.get_operation(request.name)
            except Abort as e:
                context.abort(e.code, e.message)

        ops = {"GetOperation": grpc.unary_unary_rpc_method_handler(
            get_operation, request_deserializer=operations_pb2.GetOperationRequest.FromString,
            response_serializer=op_ser)}
        return [grpc.method_handlers_generic_handler("google.cloud.aiplatform.v1.EndpointService", endpoint_service),
                grpc.method_handlers_generic_handler("google.cloud.aiplatform.v1.ModelService", model_service),
                grpc.method_handlers_generic_handler("google.longrunning.Operations", ops)]

    def _operation(self, parent: str, method: str, work: Callable[[], Any]) -> operations_pb2.Operation:
        """Start ``work`` (returns the response message, or raises Abort) as a long-running operation."""
        op = _Op(f"{parent}/operations/{next(self._ids)}")
        with self.lock:
            self.ops[op.name] = op
        fail, slow = self._fault(method, ("fail",)), self._fault(method, ("slow",))

        def run() -> None:
            time.sleep(0.2 + (slow.seconds if slow else 0.0))
            try:
                if fail is not None:
                    raise Abort(fail.code, fail.message)
                resp = work()
                with self.lock:
                    op.response, op.done = resp, True
            except Abort as e:
                with self.lock:
                    op.error, op.done = (e.code, e.message), True

        threading.Thread(target=run, daemon=True).start()
        return operations_pb2.Operation(name=op.name, done=False)

    def get_operation(self, name: str) -> operations_pb2.Operation:
        with self.lock:
            op = self.ops.get(name)
            if op is None:
                raise Abort(grpc.StatusCode.NOT_FOUND, f"Operation {name} not found.")
            op.polls += 1
            out = operations_pb2.Operation(name=name, done=op.done and op.polls >= 2)
            if out.done and op.error is not None:
                out.error.CopyFrom(status_pb2.Status(code=op.error[0].value[0], message=op.error[1]))
            elif out.done:
                packed = any_pb2.Any()
                packed.Pack(op.response)
                out.response.CopyFrom(packed)
            return out

    def _touch(self, ep: aip.Endpoint, by: str = "") -> None:
        """A new etag; ``by`` (another mlform apply's operation) is recorded as mlform records its own."""
        ep.etag = f"etag-{next(self._ids)}"
        if by:
            ep.labels["mlform-operation"] = by

    def _location(self, name: str) -> str:
        parts = name.split("/")
        if len(parts) < 4 or parts[0] != "projects" or parts[2] != "locations":
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource name {name!r}.")
        return "/".join(parts[:4])

    def _get(self, name: str) -> aip.Endpoint:
        ep = self.reg.endpoints.get(name)
        if ep is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, f'Endpoint "{name}" not found.')
        return ep

    @staticmethod
    def _check_split(split: dict[str, int], ids: set[str]) -> None:
        unknown = set(split) - ids
        if unknown:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"traffic_split names {sorted(unknown)}, which are not deployed models of the endpoint.")
        if ids and sum(split.values()) != 100:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        f"The traffic split must sum to 100, got {sum(split.values())}.")

    # --- EndpointService -----------------------------------------------------------------
    def create_endpoint(self, req: aip.CreateEndpointRequest) -> Any:
        self._location(req.parent)
        name = f"{req.parent}/endpoints/{req.endpoint_id or next(self._ids)}"
        ep = aip.Endpoint(req.endpoint)
        ep.name = name
        if ep.dedicated_endpoint_enabled:
            ep.dedicated_endpoint_dns = self.serving.host

        def work() -> Any:
            with self.lock:
                if name in self.reg.endpoints:
                    raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Endpoint {name} already exists.")
                self._touch(ep)
                self.reg.endpoints[name] = ep
                return aip.Endpoint.pb(aip.Endpoint(ep))
        return self._operation(req.parent, "CreateEndpoint", work)

    def get_endpoint(self, req: aip.GetEndpointRequest) -> aip.Endpoint:
        with self.lock:
            return self._get(req.name)

    def list_endpoints(self, req: aip.ListEndpointsRequest) -> aip.ListEndpointsResponse:
        with self.lock:
            eps = [e for n, e in self.reg.endpoints.items() if n.startswith(req.parent + "/")]
        return aip.ListEndpointsResponse(endpoints=[e for e in eps if _matches(e.labels, req.filter)])

    def update_endpoint(self, req: aip.UpdateEndpointRequest) -> aip.Endpoint:
        f = self._fault("UpdateEndpoint", ("etag",))
        with self.lock:
            ep = self._get(req.endpoint.name)
            if f is not None:  # someone else got there first
                self._touch(ep, f.by)
            if req.endpoint.etag and req.endpoint.etag != ep.etag:
                raise Abort(grpc.StatusCode.ABORTED, f"The etag {req.endpoint.etag!r} of endpoint "
                            f"{ep.name} does not match its current etag: it was changed by another request.")
            paths = list(req.update_mask.paths) or ["display_name", "labels", "traffic_split"]
            if "traffic_split" in paths:
                split = dict(req.endpoint.traffic_split)
                self._check_split(split, {d.id for d in ep.deployed_models})
                ep.traffic_split.clear()
                ep.traffic_split.update(split)
            if "labels" in paths:
                ep.labels.clear()
                ep.labels.update(dict(req.endpoint.labels))
            if "display_name" in paths and req.endpoint.display_name:
                ep.display_name = req.endpoint.display_name
            self._touch(ep)
            return ep

    def delete_endpoint(self, req: aip.DeleteEndpointRequest) -> Any:
        with self.lock:
            ep = self._get(req.name)
            if ep.deployed_models:
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"Endpoint {req.name} has deployed models; undeploy them before deleting it.")

        def work() -> Any:
            with self.lock:
                self.reg.endpoints.pop(req.name, None)
            return empty_pb2.Empty()
        return self._operation(self._location(req.name), "DeleteEndpoint", work)

    def deploy_model(self, req: aip.DeployModelRequest) -> Any:
        with self.lock:
            ep = self._get(req.endpoint)
            model = self._model_version(req.deployed_model.model)
            res = req.deployed_model.dedicated_resources
            mt = res.machine_spec.machine_type
            loc = self._location(req.endpoint).split("/")[-1]
            if mt not in MACHINE_TYPES:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            f'Machine type "{mt}" is not supported in location {loc}.')
            if res.min_replica_count < 1 or res.max_replica_count < res.min_replica_count:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "dedicated_resources.min_replica_count must be at "
                            "least 1 and max_replica_count at least min_replica_count.")
            split = dict(req.traffic_split) or ({"0": 100} if not ep.deployed_models else
                                                dict(ep.traffic_split))
            self._check_split(split, {d.id for d in ep.deployed_models} | {"0"})
            dm = aip.DeployedModel(req.deployed_model)
            dm.id = str(next(self._ids))
            dm.model_version_id = model.version_id

        def work() -> Any:
            self.serving.deploy(dm.id, model)  # the model server starts (seconds), as a replica would
            with self.lock:
                cur = self._get(req.endpoint)
                cur.deployed_models.append(dm)
                final = {(dm.id if k == "0" else k): v for k, v in split.items()}
                cur.traffic_split.clear()
                cur.traffic_split.update(final)
                self._touch(cur)
            return aip.DeployModelResponse.pb(aip.DeployModelResponse(deployed_model=dm))
        return self._operation(self._location(req.endpoint), "DeployModel", work)

    def undeploy_model(self, req: aip.UndeployModelRequest) -> Any:
        with self.lock:
            ep = self._get(req.endpoint)
            ids = [d.id for d in ep.deployed_models]
            if req.deployed_model_id not in ids:
                raise Abort(grpc.StatusCode.NOT_FOUND, f"Deployed model {req.deployed_model_id} not found "
                            f"on endpoint {req.endpoint}.")
            rest = set(ids) - {req.deployed_model_id}
            split = dict(req.traffic_split)
            if split:
                self._check_split(split, rest)
            elif rest and ep.traffic_split.get(req.deployed_model_id, 0) > 0:
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"Deployed model {req.deployed_model_id} has "
                            f"{ep.traffic_split[req.deployed_model_id]}% of the traffic; move it to other "
                            "deployed models (traffic_split) before undeploying it.")

        def work() -> Any:
            with self.lock:
                cur = self._get(req.endpoint)
                keep = [d for d in cur.deployed_models if d.id != req.deployed_model_id]
                del cur.deployed_models[:]
                cur.deployed_models.extend(keep)
                new = split or {k: v for k, v in cur.traffic_split.items() if k != req.deployed_model_id}
                cur.traffic_split.clear()
                cur.traffic_split.update(new)
                self._touch(cur)
            self.serving.undeploy(req.deployed_model_id)
            return aip.UndeployModelResponse.pb(aip.UndeployModelResponse())
        return self._operation(self._location(req.endpoint), "UndeployModel", work)

    # --- ModelService --------------------------------------------------------------------
    def _model_version(self, ref: str) -> aip.Model:
        name, _, version = ref.partition("@")
        versions = self.reg.models.get(name)
        if not versions:
            raise Abort(grpc.StatusCode.NOT_FOUND, f'Model "{name}" not found.')
        if not version or version == "default":
            return versions[-1]
        for m in versions:
            if m.version_id == version or version in m.version_aliases:
                return m
        raise Abort(grpc.StatusCode.NOT_FOUND, f'Version {version} of model "{name}" not found.')

    def upload_model(self, req: aip.UploadModelRequest) -> Any:
        self._location(req.parent)
        with self.lock:
            if req.parent_model:
                if req.parent_model not in self.reg.models:
                    raise Abort(grpc.StatusCode.NOT_FOUND, f'Parent model "{req.parent_model}" not found.')
                name = req.parent_model
            else:
                name = f"{req.parent}/models/{req.model_id or next(self._ids)}"
                if name in self.reg.models:
                    raise Abort(grpc.StatusCode.ALREADY_EXISTS, f"Model {name} already exists; upload a new "
                                "version with parent_model.")
        m = aip.Model(req.model)
        m.name = name
        if not m.artifact_uri.startswith("gs://"):
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, "artifact_uri must be a gs:// URI.")

        def work() -> Any:
            with self.lock:
                versions = self.reg.models.setdefault(name, [])
                m.version_id = str(len(versions) + 1)
                versions.append(m)
            return aip.UploadModelResponse.pb(aip.UploadModelResponse(model=name, model_version_id=m.version_id))
        return self._operation(req.parent, "UploadModel", work)

    def get_model(self, req: aip.GetModelRequest) -> aip.Model:
        with self.lock:
            return self._model_version(req.name)

    def list_models(self, req: aip.ListModelsRequest) -> aip.ListModelsResponse:
        with self.lock:
            latest = [v[-1] for n, v in self.reg.models.items() if n.startswith(req.parent + "/") and v]
        return aip.ListModelsResponse(models=[m for m in latest if _matches(m.labels, req.filter)])
