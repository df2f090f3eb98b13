"""The server's config file: what one mlform server process serves.

The process manager writes it (JSON, mode 0600 because it holds the admin
token) and starts ``python -m mlform.providers.server --config FILE``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_STATS_CAPACITY = 1 << 18  # samples kept per version (about 4 MiB)
DEFAULT_MAX_REQUEST_BYTES = 64 << 20  # an infer body over this is refused with 413
DEFAULT_MAX_IN_FLIGHT = 256  # infer requests being handled at once; more get 503
DEFAULT_MAX_BATCH_SIZE = 32  # rows (first dimension) run together by the adaptive batcher
DEFAULT_MAX_DELAY_MS = 2.0  # how long a request may wait for others to join its batch


class ConfigError(Exception):
    """The config file is missing, unreadable or inconsistent."""


@dataclass(slots=True)
class VersionSpec:
    """One model version: an id unique within the server, the artifact and its format.

    ``digest`` (``sha256:<hex>`` or bare hex) is checked against the file when
    given; the server always reports the digest it computed. ``prompt``
    (``{template, variables, model_params, version}``) makes the version serve
    that prompt over the text model: requests carry the prompt's variables
    (``providers/local/prompting.py``).
    """

    id: str
    path: str
    format: str = "onnx"
    digest: str | None = None
    prompt: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, obj: Any) -> VersionSpec:
        if not isinstance(obj, dict):
            raise ConfigError(f"a version must be an object with id and path, got {obj!r}")
        missing = [k for k in ("id", "path") if not obj.get(k)]
        if missing:
            raise ConfigError(f"version {obj!r} lacks {', '.join(missing)}")
        prompt = obj.get("prompt")
        if prompt is not None:
            from mlform.providers.local.prompting import PromptSpec
            try:
                prompt = PromptSpec.from_json(prompt).to_json()
            except ValueError as e:
                raise ConfigError(f"version {obj.get('id')!r}: {e}") from None
        return cls(id=str(obj["id"]), path=str(obj["path"]),
                   format=str(obj.get("format") or "onnx"),
                   digest=str(obj["digest"]) if obj.get("digest") else None, prompt=prompt)


@dataclass(slots=True)
class BatchingSpec:
    """Adaptive batching (``batching`` in the config; absent or null: off).

    Concurrent requests to one version are run as one batch of at most
    ``max_batch_size`` rows (the sum of their first dimensions), each waiting
    at most ``max_delay_ms`` for others to join.
    """

    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_delay_ms: float = DEFAULT_MAX_DELAY_MS

    @classmethod
    def from_json(cls, obj: Any, path: str | Path) -> BatchingSpec | None:
        if obj is None or obj is False:
            return None
        if obj is True:
            return cls()
        if not isinstance(obj, dict):
            raise ConfigError(f"server config {path}: batching must be an object with "
                              f"max_batch_size and max_delay_ms, got {obj!r}")
        unknown = set(obj) - {"max_batch_size", "max_delay_ms"}
        if unknown:
            raise ConfigError(f"server config {path}: batching has unknown settings "
                              f"{sorted(unknown)} (max_batch_size, max_delay_ms)")
        size = _positive(obj, "max_batch_size", DEFAULT_MAX_BATCH_SIZE, path)
        delay = obj.get("max_delay_ms", DEFAULT_MAX_DELAY_MS)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 10_000:
            raise ConfigError(f"server config {path}: batching.max_delay_ms must be a number "
                              f"of milliseconds from 0 to 10000, got {delay!r}")
        return cls(max_batch_size=size, max_delay_ms=float(delay))


@dataclass(slots=True)
class ServerConfig:
    """Everything one server process needs; see docs/local-server.md."""

    name: str  # the model name served at /v2/models/{name}
    token: str  # bearer token of the /mlform/ admin API
    versions: list[VersionSpec] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # empty: all on the first version
    host: str = "127.0.0.1"
    port: int = 0  # 0: the server binds a free port and reports it in port_file
    port_file: str | None = None
    gpus: Any = "auto"  # "auto" | "none" | [ids]
    stats_capacity: int = DEFAULT_STATS_CAPACITY
    http: str = "auto"  # uvicorn HTTP implementation: auto (httptools if installed) | h11 | httptools
    loop: str = "auto"  # event loop: auto (uvloop if installed) | asyncio | uvloop
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES  # after decompression too
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT
    batching: BatchingSpec | None = None  # adaptive batching; None: off
    grpc_port: int | None = None  # the V2 gRPC service on host:grpc_port (0: any); None: none
    # Who started it: the mlform address and operation ID, so a server started by an
    # apply killed before it could record the server is found again (find_orphans).
    address: str = ""
    operation_id: str = ""

    @classmethod
    def load(cls, path: str | Path) -> ServerConfig:
        """Read and check a config file; raises :class:`ConfigError` with a readable message."""
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot read server config {path}: {e}") from e
        if not isinstance(raw, dict) or not raw.get("name") or not raw.get("token"):
            raise ConfigError(f"server config {path} needs at least name and token")
        versions = [VersionSpec.from_json(v) for v in raw.get("versions", [])]
        ids = [v.id for v in versions]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"server config {path} repeats a version id: {ids}")
        weights = {str(k): float(v) for k, v in (raw.get("weights") or {}).items()}
        unknown = set(weights) - set(ids)
        if unknown:
            raise ConfigError(f"weights name unknown versions: {sorted(unknown)}")
        return cls(
            name=str(raw["name"]), token=str(raw["token"]), versions=versions, weights=weights,
            host=str(raw.get("host", "127.0.0.1")), port=int(raw.get("port", 0)),
            port_file=raw.get("port_file"), gpus=raw.get("gpus", "auto"),
            stats_capacity=int(raw.get("stats_capacity", DEFAULT_STATS_CAPACITY)),
            http=str(raw.get("http", "auto")), loop=str(raw.get("loop", "auto")),
            address=str(raw.get("address", "")), operation_id=str(raw.get("operation_id", "")),
            max_request_bytes=_positive(raw, "max_request_bytes", DEFAULT_MAX_REQUEST_BYTES, path),
            max_in_flight=_positive(raw, "max_in_flight", DEFAULT_MAX_IN_FLIGHT, path),
            batching=BatchingSpec.from_json(raw.get("batching"), path),
            grpc_port=_port(raw, "grpc_port", path),
        )

    def save(self, path: str | Path) -> None:
        """Write the config atomically, readable by its owner only (it holds the token)."""
        p = Path(path)
        tmp = p.with_suffix(p.suffix + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(self), f, indent=2)
        os.replace(tmp, p)


def _positive(raw: dict[str, Any], key: str, default: int, path: str | Path) -> int:
    value = raw.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"server config {path}: {key} must be a whole number >= 1, "
                          f"got {value!r}")
    return value


def _port(raw: dict[str, Any], key: str, path: str | Path) -> int | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535:
        raise ConfigError(f"server config {path}: {key} must be a port number from 0 to "
                          f"65535 (0: any free port), got {value!r}")
    return value


def same_digest(expected: str, actual: str) -> bool:
    """Compare digests written with or without the ``sha256:`` prefix."""
    def bare(d: str) -> str:
        return d.split(":", 1)[1] if d.startswith("sha256:") else d
    return bare(expected).lower() == bare(actual).lower()
