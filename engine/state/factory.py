"""Building a backend from the ``backend "<kind>" { ... }`` block, and migrating state.

:func:`backend_from_config` checks the block's arguments and reports every
problem at once (unknown kind or argument with a "did you mean", missing
required arguments, wrong types), each diagnostic carrying the argument's
``attribute_path`` so the CLI can point at the line. :func:`migrate_state`
copies state between two backends for ``mlform init`` when the backend
block changed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostics, DiagnosticsError, did_you_mean, error
from ..extras import require_extra
from .backend import Backend
from .crypto import Encryptor
from .lock import OP_INVALID, LockInfo
from .model import State

DEFAULT_STATE_FILE = "mlform.state.json"


@dataclass(frozen=True)
class _Arg:
    name: str
    required: bool = False


# Argument names follow Terraform's backends where one exists.
_SCHEMAS: dict[str, tuple[_Arg, ...]] = {
    "local": (_Arg("path"),),
    "s3": (_Arg("bucket", True), _Arg("key", True), _Arg("region"), _Arg("lock_table"),
           _Arg("endpoint_url"), _Arg("dynamodb_endpoint_url")),
    "gcs": (_Arg("bucket", True), _Arg("prefix")),
}


def _check(kind: str, config: dict[str, Any]) -> Diagnostics:
    diags = Diagnostics()
    schema = {a.name: a for a in _SCHEMAS[kind]}
    for name, value in config.items():
        if name not in schema:
            diags.append(error(
                "Unsupported argument",
                f'The "{kind}" backend has no argument "{name}".'
                + did_you_mean(name, schema)
                + f" Its arguments: {', '.join(schema)}.",
                path=(name,),
            ))
        elif not isinstance(value, str) or not value.strip():
            diags.append(error(
                "Incorrect attribute value type",
                f'"{name}" in the "{kind}" backend must be a non-empty string, got {value!r}.',
                path=(name,),
            ))
    for arg in schema.values():
        if arg.required and arg.name not in config:
            diags.append(error(
                "Missing required argument",
                f'The "{kind}" backend needs "{arg.name}".',
                path=(arg.name,),
            ))
    return diags


def backend_from_config(kind: str, config: dict[str, Any], project_dir: Path,
                        encryption: Encryptor | None) -> Backend:
    """The backend a ``backend "<kind>"`` block describes.

    A relative local ``path`` is relative to ``project_dir``. An S3 backend
    without ``region`` takes ``AWS_REGION`` / ``AWS_DEFAULT_REGION``.
    Raises :class:`DiagnosticsError` with every problem in the block.
    """
    backend = _backend_from_config(kind, config, project_dir, encryption)
    # A state that cannot be persisted goes to the project directory (persist.py).
    setattr(backend, "project_dir", project_dir)
    return backend


def _backend_from_config(kind: str, config: dict[str, Any], project_dir: Path,
                         encryption: Encryptor | None) -> Backend:
    if kind not in _SCHEMAS:
        raise DiagnosticsError(error(
            "Unsupported backend type",
            f'There is no backend "{kind}".' + did_you_mean(kind, _SCHEMAS)
            + f" Available: {', '.join(_SCHEMAS)}.",
        ))
    diags = _check(kind, config)
    if kind == "s3" and "region" not in config and not (
            os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")):
        diags.append(error(
            "Missing required argument",
            'The "s3" backend needs "region" (or AWS_REGION in the environment).',
            path=("region",),
        ))
    diags.raise_if_errors()

    if kind == "local":
        path = Path(config.get("path", DEFAULT_STATE_FILE))
        from .backends.local import LocalBackend

        return LocalBackend(path if path.is_absolute() else project_dir / path, encryption)
    if kind == "s3":
        require_extra("aws", 'The "s3" backend', modules=("boto3", "botocore"))
        from .backends.s3 import S3Backend

        region = config.get("region") or os.environ.get("AWS_REGION") \
            or os.environ["AWS_DEFAULT_REGION"]
        return S3Backend(config["bucket"], config["key"], region,
                         lock_table=config.get("lock_table"),
                         endpoint_url=config.get("endpoint_url"), encryption=encryption,
                         dynamodb_endpoint_url=config.get("dynamodb_endpoint_url"))
    require_extra("gcp", 'The "gcs" backend', modules=("google.cloud.storage", "google.api_core"))
    from .backends.gcs import GCSBackend

    return GCSBackend(config["bucket"], config.get("prefix", ""), encryption)


def migrate_state(source: Backend, dest: Backend, *, force: bool = False,
                  lock_timeout_s: float = 0.0) -> State | None:
    """Copy the state from ``source`` to ``dest`` (``init`` after a backend change).

    Both are locked for the copy (once, when they are the same place). The
    source's journal is replayed first, so a crashed apply is migrated too;
    lineage is kept and the destination's serial moves forward. Returns the
    state now in ``dest``, or None when ``source`` holds none. The source is
    left as it was.

    Refuses (unless ``force``) when ``dest`` already holds a different
    state (another lineage). When ``dest`` holds this state at the same or
    a newer serial, nothing is copied.
    """
    info = LockInfo(operation=OP_INVALID, info="migrating state")
    src_id = source.lock(info, lock_timeout_s)
    same = source.location == dest.location
    try:
        dst_id = src_id if same else dest.lock(info, lock_timeout_s)
        try:
            state = source.read()
            if state is None:
                return None
            current = None if same else dest.read()
            if current is not None:
                if current.lineage != state.lineage and not force:
                    raise DiagnosticsError(error(
                        "The new backend already holds a different state",
                        f"{dest.location} holds state of lineage {current.lineage} "
                        f"(serial {current.serial}); {source.location} holds lineage "
                        f"{state.lineage}. Copying would replace it. Point the backend "
                        "somewhere empty, or remove that state first.",
                    ))
                if current.lineage == state.lineage and current.serial >= state.serial:
                    return current
            written = dest.write(state, force=force)
            if dest.journal_read() is not None:
                # Superseded by what we just wrote (serial above its base).
                dest.journal_remove()
            return written
        finally:
            if not same:
                dest.unlock(dst_id)
    finally:
        source.unlock(src_id)
