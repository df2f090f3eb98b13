"""The gRPC service's checked-in descriptor: what grpcio-tools compiles from the .proto
beside it, and wire-compatible with the protocol as NVIDIA's tritonclient compiles it.

Regenerate after editing providers/server/grpc_predict_v2.proto:

    python tests/unit/server/test_server_grpc_descriptor.py --write
"""

from __future__ import annotations

import base64
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[3] / "providers" / "server"
PROTO = SERVER / "grpc_predict_v2.proto"
MODULE = SERVER / "grpc_descriptor.py"
HEADER = '''"""grpc_predict_v2.proto compiled to a serialized FileDescriptorProto. Generated: do not edit.

Regenerate with ``python tests/unit/server/test_server_grpc_descriptor.py --write``.
"""

import base64

SERIALIZED = base64.b64decode(
'''


def compile_proto() -> bytes:
    """The .proto compiled by grpcio-tools' protoc, without source info."""
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.desc"
        code = protoc.main(["protoc", f"-I{SERVER}", f"--descriptor_set_out={out}",
                            PROTO.name])
        assert code == 0, "protoc failed on grpc_predict_v2.proto"
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    (fd,) = files.file
    return fd.SerializeToString(deterministic=True)


def render(serialized: bytes) -> str:
    text = base64.b64encode(serialized).decode()
    lines = textwrap.wrap(text, 76)
    return HEADER + "".join(f'    "{ln}"\n' for ln in lines) + ")\n"


def test_checked_in_descriptor_is_the_compiled_proto():
    pytest.importorskip("grpc_tools")
    assert MODULE.read_text() == render(compile_proto()), (
        "grpc_descriptor.py is stale: run python tests/unit/server/test_server_grpc_descriptor.py"
        " --write")


def _fields(desc):  # name -> (number, type, repeated) of a message and its nested messages
    out = {}
    for f in desc.fields:
        out[f"{desc.full_name}.{f.name}"] = (f.number, f.type, f.is_repeated
                                              if hasattr(f, "is_repeated") else f.label == 3)
    for nested in desc.nested_types:
        if not nested.GetOptions().map_entry:
            out.update(_fields(nested))
    return out


def test_messages_match_tritonclients_on_the_wire():
    service_pb2 = pytest.importorskip("tritonclient.grpc.service_pb2")
    from mlform.providers.server.grpc_messages import FILE

    theirs = service_pb2.DESCRIPTOR
    for name, ours in FILE.message_types_by_name.items():
        assert _fields(ours) == _fields(theirs.message_types_by_name[name]), name
    service = FILE.services_by_name["GRPCInferenceService"]
    triton = theirs.services_by_name["GRPCInferenceService"]
    for method in service.methods:
        other = triton.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == \
            (other.input_type.full_name, other.output_type.full_name)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    MODULE.write_text(render(compile_proto()))
    print(f"wrote {MODULE}")
