"""What the local provider declares (``get_schema``): its provider block and the
endpoint attributes it takes beyond the common endpoint schema, and the static
checks of those attributes (``validate_config``, run again by plan on the values
known then).

Every endpoint attribute declared here is read by the server process when it
starts, so each is ``force_new``: a change starts a new server (the plan says
"forces replacement"). ``environment`` is ``sensitive``: its values often hold
credentials, so plans show ``(sensitive value)`` and state stores digests.
"""

from __future__ import annotations

import re
from typing import Any

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
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
})

# Endpoint attribute -> the server config field it sets (providers/local/server/config.py).
SERVER_LIMITS = {"max_request_size": "max_request_bytes", "max_in_flight": "max_in_flight"}
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


def known_int(value: Any) -> int | None:
    """``value`` as an int when it is a known whole number, else ``None``."""
    return int(value) if not contains_unknown(value) and _whole(value) else None


__all__ = ["SERVER_LIMITS", "check_endpoint", "known_int", "local_schema"]
