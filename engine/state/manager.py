"""StateManager: how the engine and the CLI read, record and write state.

One manager wraps one :class:`~.backend.Backend`. A typical apply::

    mgr = StateManager(backend)
    with mgr.locked(OP_APPLY, timeout_s=30):
        state = mgr.load()                    # journal of a crashed run replayed
        for intent in mgr.pending_intents():  # provider calls with no outcome
            ...                               # find_orphans(), decide later
        with mgr.session("apply"):            # begin() ... commit()
            mgr.record_history(HistoryRecord(outcome="in_progress", ...))
            for each resource (from any thread):
                op = new_operation_id()
                mgr.record_intent(addr, op, "create", kind=..., provider=...)
                resp = provider.apply_change(..., operation_id=op)
                mgr.record_put(resource_state, done=op)   # or record_remove
            mgr.set_outputs(outputs)
            mgr.record_history(final_record)
        # session exit compacted the journal into one state write (serial + 1)

and for an orphan found after a crash, after ``begin()``:
``record_put(adopted, done=intent.operation_id)`` or
``record_done(intent.operation_id)`` once the object is known not to exist.

State surgery (``state mv/rm/push``, ``import``, ``refresh``) loads, edits
the returned copy and calls :meth:`StateManager.write_full`; the previous
version stays in :attr:`StateManager.backup_path`.

Guarantees:

* every ``record_*`` call is durable when it returns (one journal record,
  fsync'd / one object stored), costing bytes proportional to the record,
  not to the state;
* an intent is on disk before the provider is called, so an object created
  by a call whose outcome was lost is never forgotten;
* :meth:`load` after ``kill -9`` at any point returns everything recorded;
* the methods are thread-safe: the apply walker records from many threads,
  and records reach the journal in the order they are applied in memory.
  Concurrent appends share one sync where the backend can (group commit),
  so the journal is not a serial bottleneck of a parallel apply.

Calling ``record_*`` outside ``begin()``/``commit()``, or ``write_full``
during a session, is a programming error (``RuntimeError``).
"""

from __future__ import annotations

import threading
import uuid
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

from ..diagnostics import DiagnosticsError, error
from .backend import Backend
from .journal import (
    DoneEntry,
    Entry,
    HistoryEntry,
    IntentEntry,
    JournalHeader,
    OutputsEntry,
    PutEntry,
    RemoveEntry,
    apply_entry,
)
from .lock import OP_APPLY, LockInfo
from .model import HistoryRecord, Intent, IntentAction, ResourceState, State


def new_operation_id() -> str:
    """A fresh ID for one provider call (also passed to the provider as a tag)."""
    return uuid.uuid4().hex


class Operation:
    """One provider call in flight, from :meth:`StateManager.operation`."""

    def __init__(self, manager: StateManager, intent: Intent) -> None:
        self._manager = manager
        self.intent = intent
        self.finished = False

    @property
    def id(self) -> str:
        return self.intent.operation_id

    def put(self, resource: ResourceState) -> None:
        """Record the resource's new state and close the intent in one write."""
        self._manager.record_put(resource, done=self.id)
        self.finished = True

    def remove(self) -> None:
        """Record that the resource is gone and close the intent in one write."""
        self._manager.record_remove(self.intent.address, done=self.id)
        self.finished = True


class StateManager:
    """Reads, journals and writes state through one backend (see module doc)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._mu = threading.RLock()
        self._state: State | None = None
        # A state decoded by pending_intents() while the lock is held, handed
        # to the next load() (plan's recovery check, then planning: one decode).
        self._kept: State | None = None
        self._exists = False
        self._journal_open = False
        self._records = 0
        self._lock_id: str | None = None

    # -- locking -------------------------------------------------------------

    def lock(self, operation: str = OP_APPLY, timeout_s: float = 0.0, info: str = "") -> str:
        """Take the backend's lock for ``operation``; returns the lock ID.

        Raises :class:`DiagnosticsError` ("Error acquiring the state lock",
        with the holder's details) after ``timeout_s``.
        """
        lock_id = self.backend.lock(LockInfo(operation=operation, info=info), timeout_s)
        self._lock_id = lock_id
        return lock_id

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (no-op when none is held)."""
        self._kept = None
        if self._lock_id is not None:
            lock_id, self._lock_id = self._lock_id, None
            self.backend.unlock(lock_id)

    @contextmanager
    def locked(self, operation: str = OP_APPLY, timeout_s: float = 0.0) -> Iterator[str]:
        """``with mgr.locked(...) as lock_id:`` holds the lock for the block."""
        lock_id = self.lock(operation, timeout_s)
        try:
            yield lock_id
        finally:
            self.unlock()

    def force_unlock(self, lock_id: str) -> None:
        """Release a stuck lock by ID (``mlform force-unlock``)."""
        self.backend.force_unlock(lock_id)

    def current_lock(self) -> LockInfo | None:
        """Who holds the lock now, or None."""
        return self.backend.current_lock()

    @property
    def lock_id(self) -> str | None:
        """The ID of the lock this manager holds, if any."""
        return self._lock_id

    # -- reading -------------------------------------------------------------

    @property
    def backup_path(self) -> str:
        """Where the previous version of the state is kept."""
        return self.backend.backup_location

    @property
    def exists(self) -> bool:
        """Whether the backend held any state at the last :meth:`load`."""
        return self._exists

    def load(self) -> State:
        """The current state, with a crashed run's journal replayed.

        Returns a fresh empty state (serial 0, new lineage) when there is none
        yet; :attr:`exists` tells the two apart. Writes nothing. The returned
        object is a copy the caller may modify.
        """
        with self._mu:
            if not self._journal_open:
                kept, self._kept = self._kept, None
                if kept is not None and self._lock_id is not None:
                    return kept  # nobody else holds it, and the lock kept the backend as it was
                stored = self.backend.read()
                self._exists = stored is not None
                if stored is not None:
                    # Freshly decoded and kept nowhere else: the caller's own
                    # copy without a deep copy (O(state) on every plan).
                    self._state = None
                    return stored
                # An empty state keeps its lineage until begin() starts from it.
                self._state = State()
            assert self._state is not None
            return self._state.model_copy(deep=True)

    def pending_intents(self) -> list[Intent]:
        """Provider calls started by an earlier run whose outcome is unknown."""
        with self._mu:
            if self._state is not None:
                state = self._state
            else:
                state = self.load()
                if self._exists and self._lock_id is not None:
                    self._kept = state  # read-only here: the next load() may hand it out
            return [i.model_copy() for i in state.pending_operations]

    def snapshot(self) -> State:
        """A copy of the state as recorded so far (during a session too)."""
        return self.load()

    # -- journaled session -----------------------------------------------------

    def begin(self, operation: str = "apply") -> State:
        """Start recording: compact any leftover journal, then open a new one.

        Returns the state the session starts from. Should be called while
        holding the lock.
        """
        with self._mu:
            if self._journal_open:
                raise RuntimeError("begin() called twice without commit()")
            self._kept = None
            replayed = self.backend.read_replayed()
            current = replayed.state
            if replayed.journal is not None:
                if replayed.applied:
                    assert current is not None
                    current = self.backend.write(current)
                # Written (or nothing to apply / already applied): now drop it.
                self.backend.journal_remove()
            self._exists = current is not None
            self._state = current if current is not None else (self._state or State())
            self.backend.journal_start(JournalHeader(
                lineage=self._state.lineage, base_serial=self._state.serial,
                operation=operation,
            ))
            self._journal_open = True
            self._records = 0
            return self._state.model_copy(deep=True)

    def _append(self, entry: Entry) -> None:
        line = self.backend.encode(entry)
        deferred = getattr(self.backend, "deferred_sync", None)
        # The record is written under the lock (journal order = memory order)
        # and synced after it, so concurrent records share one sync; the call
        # returns only once it is durable.
        with deferred() if deferred is not None else nullcontext():
            with self._mu:
                if not self._journal_open or self._state is None:
                    raise RuntimeError("record_*() outside begin()/commit()")
                # A failed write changes nothing in memory.
                self.backend.journal_append(line)
                apply_entry(self._state, entry)
                self._records += 1

    def record_intent(self, address: str, operation_id: str, action: IntentAction, *,
                      kind: str = "", provider: str = "") -> Intent:
        """Record that a provider call is about to start. Call BEFORE the call."""
        intent = Intent(operation_id=operation_id, address=address, action=action,
                        kind=kind, provider=provider)
        self._append(IntentEntry(intent=intent))
        return intent

    def record_put(self, resource: ResourceState, *, done: str | None = None) -> None:
        """Record a resource's new state; ``done`` also closes that intent."""
        self._append(PutEntry(resource=resource, done=done))

    def record_remove(self, address: str, *, done: str | None = None) -> None:
        """Record that a resource left state; ``done`` also closes that intent."""
        self._append(RemoveEntry(address=address, done=done))

    def record_done(self, operation_id: str) -> None:
        """Close an intent whose call changed nothing that state must hold."""
        self._append(DoneEntry(operation_id=operation_id))

    def record_history(self, record: HistoryRecord) -> None:
        """Add a history record, or replace the one with the same ``id``."""
        self._append(HistoryEntry(record=record))

    def set_outputs(self, outputs: dict[str, Any]) -> None:
        """Replace the recorded outputs."""
        self._append(OutputsEntry(outputs=outputs))

    @contextmanager
    def operation(self, address: str, action: IntentAction, *, kind: str = "",
                  provider: str = "") -> Iterator[Operation]:
        """Intent before the block; ``op.put()``/``op.remove()`` inside it.

        If the block ends normally without either, the intent is closed as
        done (the call changed nothing to record). If it raises, the intent
        stays pending: the outcome is unknown and the next run must look.
        """
        op = Operation(self, self.record_intent(address, new_operation_id(), action,
                                                kind=kind, provider=provider))
        yield op
        if not op.finished:
            self.record_done(op.id)

    def commit(self) -> State:
        """End the session: write the recorded state once (serial + 1), drop the journal.

        Nothing is written when nothing was recorded. Safe to call after a
        failed apply: what was recorded is kept.
        """
        with self._mu:
            if not self._journal_open or self._state is None:
                raise RuntimeError("commit() without begin()")
            if self._records:
                self._state = self.backend.write(self._state)
                self._exists = True
            # A crash here leaves a journal older than the state: skipped on
            # read, removed by the next begin().
            self.backend.journal_remove()
            self._journal_open = False
            self._records = 0
            return self._state.model_copy(deep=True)

    @contextmanager
    def session(self, operation: str = "apply") -> Iterator[State]:
        """``begin()`` on entry and ``commit()`` on exit, even after an error."""
        state = self.begin(operation)
        try:
            yield state
        finally:
            self.commit()

    # -- whole-document writes -------------------------------------------------

    def write_full(self, state: State, *, force: bool = False) -> State:
        """Replace the whole state (state mv/rm/push, import, refresh).

        Keeps the previous version as the backup. Unless ``force``, refuses a
        different lineage or a serial older than the current one (which
        would undo newer changes). Returns the written state.
        """
        with self._mu:
            if self._journal_open:
                raise RuntimeError("write_full() during a journaled session")
            self._kept = None
            replayed = self.backend.read_replayed()
            current = replayed.state
            if current is not None and not force:
                if state.lineage != current.lineage:
                    raise DiagnosticsError(error(
                        "State lineage mismatch",
                        f"The state being written has lineage {state.lineage}, but "
                        f"{self.backend.location} holds lineage {current.lineage}: "
                        "it is a different state. Use --force to replace it anyway.",
                    ))
                if state.serial < current.serial:
                    raise DiagnosticsError(error(
                        "State serial is older than the stored state",
                        f"The state being written has serial {state.serial}, but "
                        f"{self.backend.location} is at serial {current.serial}; "
                        "writing it would undo newer changes. Pull the current "
                        "state and apply your edit to it, or use --force.",
                    ))
            written = self.backend.write(state, force=force)
            # The state we wrote supersedes any leftover journal (its serial is
            # now above the journal's base), so dropping it loses nothing.
            if replayed.journal is not None:
                self.backend.journal_remove()
            self._state = written
            self._exists = True
            return written.model_copy(deep=True)
