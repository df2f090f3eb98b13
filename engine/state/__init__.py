"""State: the document, where it is stored, the apply journal, locks, encryption.

Public surface (everything else is an implementation detail)::

    State, ResourceState, HistoryRecord, Intent      the document (model.py)
    StateManager, new_operation_id                   what the engine calls (manager.py)
    Backend, StateReader, StatePersister,
    StateLocker, StateJournal                        storage interfaces (backend.py)
    LocalBackend, S3Backend, GCSBackend              concrete backends (backends/)
    backend_from_config, migrate_state               from the backend block (factory.py)
    LockInfo, OP_APPLY, OP_PLAN, ...                 locks (lock.py)
    Encryptor, load_encryptor                        encryption at rest (crypto.py)
    state_to_json, decode_state                      the file form (codec.py): state pull/push

Data flows one way: the engine edits :class:`State` objects and records
changes through :class:`StateManager`; the manager turns them into journal
records and documents (codec, crypto) and a backend moves the bytes.
S3Backend and GCSBackend import their cloud SDKs only when constructed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .backend import Backend, ClientBackend, StateJournal, StateLocker, StatePersister, StateReader
from .backends.local import LocalBackend
from .codec import decode_state, state_to_json
from .crypto import ENV_KEY, ENV_KEY_FILE, Encryptor, load_encryptor
from .factory import DEFAULT_STATE_FILE, backend_from_config, migrate_state
from .lock import OP_APPLY, OP_INVALID, OP_PLAN, OP_REFRESH, LockInfo
from .manager import Operation, StateManager, new_operation_id
from .model import HistoryRecord, Intent, ResourceState, State

if TYPE_CHECKING:
    from .backends.gcs import GCSBackend
    from .backends.s3 import S3Backend

__all__ = [
    "Backend", "ClientBackend", "StateJournal", "StateLocker", "StatePersister", "StateReader",
    "LocalBackend", "S3Backend", "GCSBackend",
    "decode_state", "state_to_json",
    "ENV_KEY", "ENV_KEY_FILE", "Encryptor", "load_encryptor",
    "DEFAULT_STATE_FILE", "backend_from_config", "migrate_state",
    "OP_APPLY", "OP_INVALID", "OP_PLAN", "OP_REFRESH", "LockInfo",
    "Operation", "StateManager", "new_operation_id",
    "HistoryRecord", "Intent", "ResourceState", "State",
]


def __getattr__(name: str) -> Any:
    # The cloud backends pull in boto3 / google-cloud-storage; load on use.
    if name == "S3Backend":
        from .backends.s3 import S3Backend

        return S3Backend
    if name == "GCSBackend":
        from .backends.gcs import GCSBackend

        return GCSBackend
    raise AttributeError(name)
