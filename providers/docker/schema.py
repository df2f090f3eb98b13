"""What the docker provider declares (``get_schema``) and the static checks of its
endpoint attributes (``validate_config``, run again by plan on the values known then).

Every container setting is read when a container is created, so each is
``force_new``: a change replaces the endpoint's containers (``replicas``, a
common attribute, is named in ``requires_replace`` by planning). A model
change is not: it is rolled out (``rollout.py``).
"""

from __future__ import annotations

import re
from typing import Any

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown

PROVIDER = BlockSpec(attrs={
    "host": AttrSpec("string", description="the Docker engine, e.g. unix:///var/run/docker.sock or "
                                           "tcp://127.0.0.1:2376; default: DOCKER_HOST, else the local socket"),
    "tls_verify": AttrSpec("bool", description="verify the engine's TLS certificate (tcp:// hosts); default: "
                                               "DOCKER_TLS_VERIFY"),
    "cert_path": AttrSpec("string", description="folder with ca.pem, cert.pem, key.pem; default: DOCKER_CERT_PATH"),
    "base_image": AttrSpec("string", description="the image mlform builds endpoint images FROM when an endpoint "
                                                 "names no image: it must have Python and mlform installed"),
    "python": AttrSpec("string", description='the Python interpreter in the images, with mlform; default "python"'),
})

ENDPOINT = BlockSpec(attrs={
    "image": AttrSpec("string", force_new=True,
                      description="the image each version's container runs (with mlform installed); unset: "
                                  "mlform builds one FROM the provider's base_image with the model in it"),
    "port": AttrSpec("number", force_new=True,
                     description="the host port the endpoint's router is published on (1-65535); unset: a free one"),
    "bind_address": AttrSpec("string", force_new=True,
                             description='the host address ports are published on; default "127.0.0.1"'),
    "cpus": AttrSpec("number", force_new=True, description="CPU limit of each container (e.g. 0.5, 2)"),
    "memory": AttrSpec("string", force_new=True,
                       description='memory limit of each version container, as docker takes it ("512m", "2g")'),
    "gpus": AttrSpec("number", force_new=True,
                     description="GPUs given to each version container through a device request (-1: all); "
                                 "default 1 when constraints.accelerators asks for one, else 0"),
    "volumes": AttrSpec("map(string)", force_new=True,
                        description='bind mounts and named volumes: { "/host/path" = "/in/container[:ro|:rw]" } '
                                    "(model caches, say)"),
    "environment": AttrSpec("map(string)", sensitive=True, force_new=True,
                            description="environment variables of the server in each container; sensitive: "
                                        "never shown in plans, logs or state"),
    "restart_policy": AttrSpec("string", force_new=True,
                               description='docker restart policy of the containers; default "unless-stopped"'),
    "image_id": AttrSpec("string", computed=True, description="the image the version containers run"),
    "containers": AttrSpec("list(any)", computed=True, description="names of the endpoint's containers"),
})

SETTINGS = tuple(k for k, a in ENDPOINT.attrs.items() if not a.computed) + ("replicas",)
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
_MEMORY = re.compile(r"^[0-9]+[bkmg]?$", re.I)


def docker_schema() -> GetSchemaResponse:
    return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})


def _known(v: Any) -> bool:
    return v is not None and not contains_unknown(v)


def check_endpoint(config: dict[str, Any]) -> Diagnostics:
    """The docker attributes of one endpoint, checked where known, each error at its attribute."""
    d = Diagnostics()
    port = config.get("port")
    if _known(port) and not (isinstance(port, (int, float)) and not isinstance(port, bool)
                             and float(port).is_integer() and 1 <= port <= 65535):
        d.error("Invalid port", f"port = {port!r}: a port is a whole number from 1 to 65535. Leave port unset "
                                "to publish the router on a free one.", path=("port",))
    mem = config.get("memory")
    if _known(mem) and not (isinstance(mem, str) and _MEMORY.match(mem)):
        d.error("Invalid memory", f'memory = {mem!r}: write a size as docker takes it, such as "512m" or "2g".',
                path=("memory",))
    cpus = config.get("cpus")
    if _known(cpus) and not (isinstance(cpus, (int, float)) and not isinstance(cpus, bool) and cpus > 0):
        d.error("Invalid cpus", f"cpus = {cpus!r}: a CPU limit is a number above 0 (0.5, 2).", path=("cpus",))
    rp = config.get("restart_policy")
    if _known(rp) and rp not in RESTART_POLICIES:
        d.error("Invalid restart_policy", f"restart_policy = {rp!r}: one of {', '.join(RESTART_POLICIES)}.",
                path=("restart_policy",))
    vols = config.get("volumes")
    if isinstance(vols, dict):
        for src, dst in vols.items():
            if _known(dst) and not (isinstance(dst, str) and dst.split(":")[0].startswith("/")
                                    and dst.count(":") <= 1 and dst.split(":")[-1] in (dst.split(":")[0], "ro", "rw")):
                d.error("Invalid volume", f'volumes["{src}"] = {dst!r}: the target is an absolute path in the '
                        'container, optionally followed by ":ro" or ":rw".', path=("volumes", src))
    return d


def gpus_of(config: dict[str, Any]) -> Any:
    """GPUs per version container: ``gpus``, else 1 when ``constraints.accelerators`` asks for one."""
    g = config.get("gpus")
    if g is not None:
        return g if contains_unknown(g) else int(g)
    acc = (config.get("constraints") or {}).get("accelerators")
    if contains_unknown(acc):
        return UNKNOWN
    return 1 if any(a not in ("none", "cpu") for a in (acc or [])) else 0


def volumes_of(config: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``volumes`` as the docker SDK takes them."""
    out: dict[str, dict[str, str]] = {}
    for src, dst in (config.get("volumes") or {}).items():
        target, _, mode = str(dst).partition(":")
        out[str(src)] = {"bind": target, "mode": mode or "rw"}
    return out


__all__ = ["SETTINGS", "check_endpoint", "docker_schema", "gpus_of", "volumes_of"]
