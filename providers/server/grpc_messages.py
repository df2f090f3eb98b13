"""The V2 gRPC messages, as classes built at import from the checked-in descriptor.

No generated ``_pb2`` code: :mod:`.grpc_descriptor` holds
``grpc_predict_v2.proto`` compiled to a serialized ``FileDescriptorProto``
(regenerated from the .proto with grpcio-tools, offline), and protobuf's
runtime makes the classes from it, in a pool of their own (so they never
clash with another copy of the protocol loaded in the same process, such as
tritonclient's). Generated code would tie the product to the protobuf
release that generated it; a descriptor is read by any protobuf 4 or later.

Imported only when a gRPC port is configured (the ``mlform[grpc]`` extra).
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pool, message_factory

from mlform.providers.server.grpc_descriptor import SERIALIZED

SERVICE = "inference.GRPCInferenceService"
_POOL = descriptor_pool.DescriptorPool()
FILE = _POOL.AddSerializedFile(SERIALIZED)
if not hasattr(FILE, "message_types_by_name"):  # the C++ runtime returns the proto
    FILE = _POOL.FindFileByName("grpc_predict_v2.proto")


def _message(name: str) -> Any:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"inference.{name}"))


ServerLiveRequest = _message("ServerLiveRequest")
ServerLiveResponse = _message("ServerLiveResponse")
ServerReadyRequest = _message("ServerReadyRequest")
ServerReadyResponse = _message("ServerReadyResponse")
ModelReadyRequest = _message("ModelReadyRequest")
ModelReadyResponse = _message("ModelReadyResponse")
ServerMetadataRequest = _message("ServerMetadataRequest")
ServerMetadataResponse = _message("ServerMetadataResponse")
ModelMetadataRequest = _message("ModelMetadataRequest")
ModelMetadataResponse = _message("ModelMetadataResponse")
ModelInferRequest = _message("ModelInferRequest")
ModelInferResponse = _message("ModelInferResponse")
