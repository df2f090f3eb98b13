"""What the local provider declares (``get_schema``): its provider block and the
endpoint attributes it takes beyond the common endpoint schema, and the static
checks of those attributes (``validate_config``, run again by plan on the values
known then).

Every endpoint setting declared here (the attributes a user sets and the
``batching`` block) is read by the server process when it starts, so each is
``force_new``: a change starts a new server (the plan says "forces
replacement"; for the block, planning.py names it in ``requires_replace``, as
a nested block has no ``force_new`` of its own). ``environment`` is
``sensitive``: its values often hold credentials, so plans show ``(sensitive
value)`` and state stores digests. ``grpc_url`` is computed: the gRPC
service's ``127.0.0.1:PORT``, known at plan when ``grpc_port`` is a port.
"""

from __future__ import annotations

import re
from typing import Any

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError
from mlform.engine.extras import require_extra
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse, NestedSpec
from mlform.providers.server.config import DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_DELAY_MS, BatchingSpec
from mlform.engine.values import UNKNOWN, contains_unknown

PROVIDER = BlockSpec(attrs={
    "gpus": AttrSpec("any", description='"auto" (a GPU when the runtime has one, the default), "none", '
                                        "or a list of GPU ids such as [0, 1]"),
})

ENDPOINT = BlockSpec(attrs={
    "port": AttrSpec("number", force_new=True,
                     description="the 127.0.0.1 port the endpoint's server listens on (1-65535); unset: a "
                                 "free port picked at start. A change replaces the server"),
    "environment": AttrSpec("map(string)", sensitive=True, force_new=True,
                            description="environment variables of the server process (OMP_NUM_THREADS, say); "
                                        "sensitive: never shown in plans, logs or state. A change replaces the "
                                        "server"),
    "max_request_size": AttrSpec("number", force_new=True,
                                 description="largest infer request body in bytes (after decompression too); "
                                             "larger ones are answered 413. Default 67108864 (64 MiB)"),
    "max_in_flight": AttrSpec("number", force_new=True,
                              description="infer requests handled at once (>= 1); more are answered 503 with "
                                          "Retry-After. Default 256"),
    "grpc_port": AttrSpec("number", force_new=True,
                          description="serve the V2 gRPC protocol on this 127.0.0.1 port too (1-65535; 0: a "
                                      "free port picked at start); unset: no gRPC. Needs mlform[grpc]. A "
                                      "change replaces the server"),
    "grpc_url": AttrSpec("string", computed=True,
                         description="host:port of the gRPC service (as tritonclient.grpc takes it); null "
                                     "without grpc_port"),
    "restarts": AttrSpec("number", computed=True,
                         description="how many times the server's supervisor restarted it after a crash, "
                                     "as last refreshed; null until the first restart"),
}, blocks={
    "batching": NestedSpec(BlockSpec(attrs={
        "max_batch_size": AttrSpec("number", description="rows run together in one model execution (>= 1). "
                                                         f"Default {DEFAULT_MAX_BATCH_SIZE}"),
        "max_delay_ms": AttrSpec("number", description="how long a request may wait for others to join its "
                                                       f"batch (0-10000 ms). Default {DEFAULT_MAX_DELAY_MS:g}"),
    })),
})

# Endpoint attribute -> the server config field it sets (providers/server/config.py).
SERVER_LIMITS = {"max_request_size": "max_request_bytes", "max_in_flight": "max_in_flight"}
# What the server reads at start: a change to any of them replaces it.
SERVER_SETTINGS = tuple(k for k, a in ENDPOINT.attrs.items() if not a.computed) + tuple(ENDPOINT.blocks)
_ENV_NAME = re.compile(r"^[^=\x00]+$")


def local_schema() -> GetSchemaResponse:
    return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})


def _whole(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()


def check_endpoint(config: dict[str, Any]) -> Diagnostics:
    """The local attributes of one endpoint's evaluated config, checked where known;
    each error carries its attribute path, so it is shown at the attribute."""
    d = Diagnostics()
    port = config.get("port")
    if port is not None and port is not UNKNOWN and not (_whole(port) and 1 <= port <= 65535):
        d.error("Invalid port", f"port = {port!r}: a port is a whole number from 1 to 65535. Leave port unset "
                                "to let the server pick a free one.", path=("port",))
    _check_grpc(config.get("grpc_port"), port, d)
    _check_batching(config.get("batching"), d)
    for attr in SERVER_LIMITS:
        v = config.get(attr)
        if v is not None and v is not UNKNOWN and not (_whole(v) and v >= 1):
            what = "a size in bytes" if attr == "max_request_size" else "a number of requests"
            d.error(f"Invalid {attr}", f"{attr} must be a whole number of at least 1 ({what}), got {v!r}.",
                    path=(attr,))
    env = config.get("environment")
    if isinstance(env, dict):
        for name, value in env.items():
            if not _ENV_NAME.match(str(name)):
                d.error("Invalid environment variable name",
                        f"{name!r} cannot be an environment variable name: a name is not empty and has "
                        "no '=' or NUL character.", path=("environment", name))
            elif isinstance(value, str) and "\x00" in value:  # the value itself is never shown
                d.error("Invalid environment variable value",
                        f"The value of environment.{name} holds a NUL character, which no process "
                        "environment can carry.", path=("environment", name))
    return d


def _check_grpc(grpc: Any, port: Any, d: Diagnostics) -> None:
    if grpc is None or contains_unknown(grpc):
        return
    if not (_whole(grpc) and 0 <= grpc <= 65535):
        d.error("Invalid grpc_port", f"grpc_port = {grpc!r}: a port is a whole number from 1 to 65535, or 0 to "
                                     "let the server pick a free one. Leave grpc_port unset to serve HTTP only.",
                path=("grpc_port",))
        return
    if grpc and known_int(port) == grpc:
        d.error("grpc_port is the same as port", f"port and grpc_port are both {int(grpc)}, but HTTP and gRPC "
                "each need a port of their own. Change one of them, or set grpc_port = 0 to let the server "
                "pick a free one.", path=("grpc_port",))
    try:
        require_extra("grpc", "gRPC serving (grpc_port)", path=("grpc_port",))
    except DiagnosticsError as e:
        d.extend(e.diagnostics)


def _check_batching(b: Any, d: Diagnostics) -> None:
    if not isinstance(b, dict):
        return
    size, delay = b.get("max_batch_size"), b.get("max_delay_ms")
    if size is not None and not contains_unknown(size) and not (_whole(size) and size >= 1):
        d.error("Invalid batching.max_batch_size", f"max_batch_size must be a whole number of at least 1 (rows "
                f"run together), got {size!r}.", path=("batching", "max_batch_size"))
    if delay is not None and not contains_unknown(delay) and not (
            isinstance(delay, (int, float)) and not isinstance(delay, bool) and 0 <= delay <= 10_000):
        d.error("Invalid batching.max_delay_ms", f"max_delay_ms must be a number of milliseconds from 0 to "
                f"10000, got {delay!r}.", path=("batching", "max_delay_ms"))


def batching_config(b: Any) -> BatchingSpec | None:
    """The server config's batching for an endpoint's (checked) ``batching`` block; ``None``: off."""
    if not isinstance(b, dict):
        return None
    size, delay = b.get("max_batch_size"), b.get("max_delay_ms")
    return BatchingSpec(int(size) if size is not None else DEFAULT_MAX_BATCH_SIZE,
                        float(delay) if delay is not None else DEFAULT_MAX_DELAY_MS)


def known_int(value: Any) -> int | None:
    """``value`` as an int when it is a known whole number, else ``None``."""
    return int(value) if not contains_unknown(value) and _whole(value) else None


__all__ = ["SERVER_LIMITS", "SERVER_SETTINGS", "batching_config", "check_endpoint", "known_int",
           "local_schema"]
