"""Where state lives: small storage interfaces composed into one ``Backend``.

As in Terraform's ``statemgr``, a backend is the sum of small capabilities::

    StateReader     read() -> State | None          (journal replayed)
    StatePersister  write(state) -> State           (serial+1, backup kept)
    StateLocker     lock / unlock / force_unlock / current_lock
    StateJournal    journal_start / journal_append / journal_read / journal_remove

:class:`Backend` is that composition; code that only reads state should ask
for a :class:`StateReader`. Each concrete backend (local file, S3, GCS) is a
:class:`ClientBackend` around a tiny :class:`StorageClient` that moves bytes
and takes locks; everything else - encoding, encryption, serial and lineage,
backups, journal replay - is written once here, so the backends cannot drift
apart in those rules.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..diagnostics import DiagnosticsError, error
from .codec import decode_state, encode_state, reseal
from .crypto import Encryptor
from .journal import (
    Entry,
    Journal,
    JournalHeader,
    Replayed,
    decode_journal,
    encode_entry,
    replay,
)
from .lock import LockInfo, acquire
from .model import State


@runtime_checkable
class StateReader(Protocol):
    """Reads the current state."""

    @property
    def location(self) -> str:
        """Where the state lives, for messages (a path or a URL)."""
        ...

    def read(self) -> State | None:
        """The current state with any leftover journal replayed; None if none yet."""
        ...


@runtime_checkable
class StatePersister(Protocol):
    """Writes whole state documents."""

    @property
    def backup_location(self) -> str:
        """Where the previous version is kept."""
        ...

    def write(self, state: State, *, force: bool = False) -> State:
        """Write ``state`` atomically as the next serial; returns what was written."""
        ...


@runtime_checkable
class StateLocker(Protocol):
    """Exclusive access for commands that may write."""

    def lock(self, info: LockInfo, timeout_s: float) -> str:
        """Take the lock, waiting up to ``timeout_s``; returns the lock ID."""
        ...

    def unlock(self, lock_id: str) -> None:
        """Release a lock this process took."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Release a lock whose holder is gone; ``lock_id`` must match it."""
        ...

    def current_lock(self) -> LockInfo | None:
        """The holder's info, or None when unlocked."""
        ...


@runtime_checkable
class StateJournal(Protocol):
    """Durable per-record appends between full writes."""

    def journal_start(self, header: JournalHeader) -> None:
        """Create an empty journal with ``header``; none may exist."""
        ...

    def journal_append(self, line: bytes) -> None:
        """Append one encoded record; durable when this returns."""
        ...

    def journal_read(self) -> Journal | None:
        """The journal left beside the state, or None."""
        ...

    def journal_remove(self) -> None:
        """Delete the journal (after compaction)."""
        ...

    def encode(self, entry: Entry) -> bytes:
        """Encode a journal record the way this backend stores it (encrypted or not)."""
        ...


@runtime_checkable
class Backend(StateReader, StatePersister, StateLocker, StateJournal, Protocol):
    """Everything the engine needs from a place that stores state."""

    def read_document(self) -> State | None:
        """The stored document alone, without journal replay."""
        ...

    def read_replayed(self) -> Replayed:
        """The stored document with the journal replayed, and how (see journal.replay)."""
        ...


class StorageClient(Protocol):
    """The bytes-and-locks primitives one storage system must provide.

    ``put_state`` replaces the state in one atomic step (after storing
    ``backup`` when given) and may reject the write if the state changed
    since the last ``get_state`` (optimistic concurrency, when the store
    offers it). Journal methods store records durably in order; a remote
    store may keep one object per record. ``try_lock`` returns None when it
    took the lock, else the current holder.
    """

    location: str
    backup_location: str

    def get_state(self) -> bytes | None: ...
    def get_backup(self) -> bytes | None: ...
    def put_state(self, data: bytes, backup: bytes | None) -> None: ...
    def journal_read(self) -> bytes | None: ...
    def journal_start(self, header: bytes) -> None: ...
    def journal_append(self, line: bytes) -> None: ...
    def journal_remove(self) -> None: ...
    def try_lock(self, info: LockInfo) -> LockInfo | None: ...
    def unlock(self, lock_id: str) -> None: ...
    def force_unlock(self, lock_id: str) -> None: ...
    def current_lock(self) -> LockInfo | None: ...


class ClientBackend:
    """A :class:`Backend` built on a :class:`StorageClient`.

    Writing reads the stored document first: to keep it as the backup, to
    continue its serial, and to refuse a different lineage unless forced. A
    document that cannot be read or decrypted therefore blocks the write -
    a wrong key never silently overwrites state.
    """

    def __init__(self, client: StorageClient, encryption: Encryptor | None = None) -> None:
        self.client = client
        self.encryption = encryption
        # Where a state that cannot be persisted is written instead (the
        # project directory; set by backend_from_config). See persist.py.
        self.project_dir: Path | None = None

    # -- reading -----------------------------------------------------------

    @property
    def location(self) -> str:
        return self.client.location

    @property
    def backup_location(self) -> str:
        return self.client.backup_location

    @property
    def journal_location(self) -> str:
        return f"{self.client.location}.journal"

    def read_document(self) -> State | None:
        """The stored document alone, without journal replay."""
        data = self.client.get_state()
        return None if data is None else decode_state(data, self.encryption, self.location)

    def read_backup(self) -> State | None:
        """The previous version kept by the last write, if any."""
        data = self.client.get_backup()
        return None if data is None else decode_state(data, self.encryption, self.backup_location)

    def read_replayed(self) -> Replayed:
        """The stored document with the journal replayed, and replay details."""
        # Readers do not take the lock: if a writer compacts and starts a new
        # journal between our two reads, the journal looks newer than the
        # document. Re-reading both resolves that race.
        for _ in range(3):
            base = self.read_document()
            journal = self.journal_read()
            if journal is None or journal.header.base_serial <= (base.serial if base else 0):
                break
        return replay(base, journal, self.journal_location)

    def read(self) -> State | None:
        return self.read_replayed().state

    # -- writing -----------------------------------------------------------

    def write(self, state: State, *, force: bool = False) -> State:
        """Write ``state`` atomically, keeping the stored one as the backup.

        The written serial is ``max(state.serial, stored serial + 1)`` (1 for
        the first write), so it increases on every write.

        Refuses a state of another lineage (it would replace unrelated
        infrastructure records) unless ``force``. Returns the written copy;
        ``state`` itself is not modified.
        """
        old_bytes = self.client.get_state()
        # Strictly above the stored serial, and never below the caller's: a
        # replayed journal already carries the serial compaction must write.
        serial = max(state.serial, 1)
        if old_bytes is not None:
            old = decode_state(old_bytes, self.encryption, self.location)
            if old.lineage != state.lineage and not force:
                raise DiagnosticsError(error(
                    "State lineage mismatch",
                    f"{self.location} holds state of lineage {old.lineage}, but the "
                    f"state being written has lineage {state.lineage}: it is a "
                    "different state, not a newer version of this one. Check the "
                    "backend configuration, or force the write (`state push --force`).",
                ))
            serial = max(serial, old.serial + 1)
        new = state.model_copy(update={"serial": serial})
        data = encode_state(new, self.encryption)
        backup = None if old_bytes is None else reseal(old_bytes, self.encryption, self.location)
        self.client.put_state(data, backup)
        return new

    # -- journal -----------------------------------------------------------

    def encode(self, entry: Entry) -> bytes:
        return encode_entry(entry, self.encryption)

    def journal_start(self, header: JournalHeader) -> None:
        self.client.journal_start(encode_entry(header, self.encryption))

    def journal_append(self, line: bytes) -> None:
        self.client.journal_append(line)

    def deferred_sync(self) -> AbstractContextManager[None]:
        """Appends inside are durable when the block exits (group commit where
        the storage supports it; otherwise each append is durable at once)."""
        f = getattr(self.client, "deferred_sync", None)
        return f() if f is not None else nullcontext()

    def journal_read(self) -> Journal | None:
        data = self.client.journal_read()
        if data is None:
            return None
        return decode_journal(data, self.encryption, self.journal_location)

    def journal_remove(self) -> None:
        self.client.journal_remove()

    def journal_close(self) -> None:
        """Stop appending but leave the journal in place (after a failed commit)."""
        f = getattr(self.client, "journal_close", None)
        if f is not None:
            f()

    # -- locking -----------------------------------------------------------

    def lock(self, info: LockInfo, timeout_s: float) -> str:
        if not info.path:
            info = info.model_copy(update={"path": self.location})
        acquire(lambda: self.client.try_lock(info), timeout_s, self.location)
        return info.id

    def unlock(self, lock_id: str) -> None:
        self.client.unlock(lock_id)

    def force_unlock(self, lock_id: str) -> None:
        self.client.force_unlock(lock_id)

    def current_lock(self) -> LockInfo | None:
        return self.client.current_lock()

    def __repr__(self) -> str:
        enc = ", encrypted" if self.encryption is not None else ""
        return f"{type(self).__name__}({self.location}{enc})"
