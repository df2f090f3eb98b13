"""State documents to bytes and back, with optional encryption.

The serialized form (JSON bytes, maybe an encryption envelope) is distinct
from the :class:`~.model.State` the engine works with; every backend stores
what :func:`encode_state` returns and hands :func:`decode_state` what it read.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..diagnostics import DiagnosticsError, error
from .crypto import Encryptor, is_envelope, open_envelope
from .model import FORMAT_VERSION, State

PURPOSE_STATE = "mlform-state-v1"
PURPOSE_JOURNAL = "mlform-journal-v1"

_SUPPORTED_MAJOR = FORMAT_VERSION.split(".")[0]


def state_to_json(state: State) -> dict[str, Any]:
    """The document as it is written (``pending_operations`` only when set)."""
    doc = state.model_dump(mode="json")
    if not doc.get("pending_operations"):
        doc.pop("pending_operations", None)
    return doc


def encode_state(state: State, enc: Encryptor | None) -> bytes:
    """Serialize ``state``; sealed in an envelope when ``enc`` is given.

    NaN and infinity become ``null`` (pydantic's JSON mode): the file stays
    strict JSON that any reader accepts.
    """
    # pydantic's serializer writes the same document as json.dumps(state_to_json(state),
    # indent=2) (non-ASCII as UTF-8 rather than \u escapes), ~20x faster.
    if enc is None:  # secrets never reach unencrypted state: digests instead
        from .sensitive import mask_state
        state = mask_state(state)
    exclude = None if state.pending_operations else {"pending_operations"}
    data = state.model_dump_json(indent=2, exclude=exclude).encode("utf-8") + b"\n"
    if enc is None:
        return data
    return json.dumps(enc.seal(data, PURPOSE_STATE), indent=2).encode("ascii") + b"\n"


def _parse_json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DiagnosticsError(error(
            "Failed to read state",
            f"{where} is not valid JSON ({exc}). Restore it from its backup "
            "(`*.backup`) or fix it by hand; mlform will not overwrite it.",
        )) from exc


def decode_state(data: bytes, enc: Encryptor | None, where: str) -> State:
    """Parse stored bytes (plaintext or envelope) into a :class:`State`.

    Plaintext is accepted even when ``enc`` is set: that is how encryption is
    turned on (the next write encrypts). Raises :class:`DiagnosticsError` for
    unreadable, undecryptable or invalid documents.
    """
    doc = _parse_json(data, where)
    if is_envelope(doc):
        doc = _parse_json(open_envelope(doc, enc, PURPOSE_STATE, where), where)
    if not isinstance(doc, dict):
        raise DiagnosticsError(error(
            "Failed to read state", f"{where} is not a JSON object; it is not an mlform state.",
        ))
    version = str(doc.get("format_version", ""))
    if version.split(".")[0] != _SUPPORTED_MAJOR:
        raise DiagnosticsError(error(
            "Unsupported state format",
            f"{where} has format_version {version!r}; this mlform reads "
            f"{_SUPPORTED_MAJOR}.x. Use the mlform version that wrote it.",
        ))
    try:
        return State.model_validate(doc)
    except ValidationError as exc:
        raise DiagnosticsError(error(
            "Failed to read state",
            f"{where} is not a valid mlform state:\n{exc}\nRestore it from its "
            "backup (`*.backup`) or fix it by hand.",
        )) from exc


def reseal(data: bytes, enc: Encryptor | None, where: str) -> bytes:
    """Bytes to keep as a backup: ``data`` itself, encrypted if it was not.

    With encryption on, a plaintext previous version must not be copied to
    the backup as plaintext; without encryption the bytes are kept as they are.
    """
    if enc is None:
        return data
    doc = _parse_json(data, where)
    if is_envelope(doc):
        return data
    return json.dumps(enc.seal(data, PURPOSE_STATE), indent=2).encode("ascii") + b"\n"
