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

When the backend fails (network, 5xx, expired credentials, a full disk): an
intent that cannot be recorded raises (the call never starts); an outcome
that cannot be recorded is kept in memory and the next intent first starts
over with a full write; a failed final write goes to
``errored.mlform.state.json`` (see ``persist.py``, docs/reliability.md).

Calling ``record_*`` outside ``begin()``/``commit()``, or ``write_full``
during a session, is a programming error (``RuntimeError``).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Iterator

from ..diagnostics import DiagnosticsError, error
from . import persist
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
from .locking import Locking
from .model import HistoryRecord, Intent, IntentAction, ResourceState, State
from .operation import Operation as Operation
from .operation import new_operation_id as new_operation_id


class StateManager(Locking):
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
        self._operation = "apply"
        # Set when a journal write failed this session: no record is appended
        # after it until a full write starts a fresh journal (_restart).
        self._broken: BaseException | None = None
        self._unrecorded: list[str] = []  # outcomes since then, held only in memory
        self._refused: list[str] = []  # operations not started: their intent failed
        self._failure: DiagnosticsError | None = None  # a failed commit, for unlock()

    # -- reading -------------------------------------------------------------

    @property
    def errored_path(self) -> Path:
        """Where a state that cannot be persisted is written (the project directory)."""
        return persist.project_errored_path(getattr(self.backend, "project_dir", None))

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

    def read_file(self, path: Path) -> State:
        """A state file (``state push``): plaintext, or sealed with this backend's key."""
        return persist.read_state_file(path, getattr(self.backend, "encryption", None))

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
            self._failure = None
            try:
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
            except OSError as exc:
                raise persist.io_error(exc, "start recording the state",
                                       self.backend.location) from exc
            self._journal_open = True
            self._records = 0
            self._operation = operation
            self._broken, self._unrecorded, self._refused = None, [], []
            return self._state.model_copy(deep=True)

    def _append(self, entry: Entry) -> None:
        line = self.backend.encode(entry)
        intent = entry.intent if isinstance(entry, IntentEntry) else None
        deferred = getattr(self.backend, "deferred_sync", None)
        applied = False
        # The record is written under the lock (journal order = memory order)
        # and synced after it, so concurrent records share one sync; the call
        # returns only once it is durable.
        try:
            with deferred() if deferred is not None else nullcontext():
                with self._mu:
                    if not self._journal_open or self._state is None:
                        raise RuntimeError("record_*() outside begin()/commit()")
                    if intent is not None and self._broken is not None:
                        self._restart(intent.address)
                    if self._broken is None:
                        try:
                            self.backend.journal_append(line)
                        except Exception as exc:
                            self._broken = exc
                            if intent is not None:  # the call must not start
                                self._refused.append(intent.address)
                                raise persist.not_started(intent.address, exc,
                                                          self.backend.location) from exc
                    if self._broken is not None:
                        # What happened happened: keep it for the final write.
                        self._unrecorded += persist.addresses(entry)
                    apply_entry(self._state, entry)
                    self._records += 1
                    applied = True
        except Exception as exc:
            if not applied:
                raise
            # The deferred sync of this record failed (it is in memory only).
            with self._mu:
                self._broken = exc
                if intent is None:
                    self._unrecorded += persist.addresses(entry)
                    return
                assert self._state is not None
                apply_entry(self._state, DoneEntry(operation_id=intent.operation_id))
                self._refused.append(intent.address)
            raise persist.not_started(intent.address, exc, self.backend.location) from exc

    def _restart(self, address: str) -> None:
        """After a failed journal write: write the whole state, start a new journal.

        Called before the next intent, so a transient failure costs one full
        write and the apply goes on. Raises the "not started" diagnostic for
        ``address`` while the backend still fails.
        """
        assert self._state is not None
        try:
            self._state = self.backend.write(self._state)
            self._unrecorded = []
            self._records = 0  # the document holds everything so far
            self.backend.journal_remove()
            self.backend.journal_start(JournalHeader(
                lineage=self._state.lineage, base_serial=self._state.serial,
                operation=self._operation,
            ))
        except Exception as exc:
            self._broken = exc
            self._refused.append(address)
            raise persist.not_started(address, exc, self.backend.location) from exc
        self._broken = None

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
                try:
                    self._state = self.backend.write(self._state)
                except Exception as exc:
                    self._commit_failed(exc)
                self._exists = True
            self._journal_open = False
            self._records = 0
            self._broken, self._unrecorded, self._refused = None, [], []
            # A crash (or a failure) here leaves a journal older than the
            # state: skipped on read, removed by the next begin().
            try:
                self.backend.journal_remove()
            except Exception:  # noqa: BLE001 - the state itself is written
                pass
            return self._state.model_copy(deep=True)

    def _commit_failed(self, exc: Exception) -> None:
        """The final write failed: the state goes to the errored file; raises."""
        assert self._state is not None
        self._journal_open = False
        self._records = 0
        self._failure = persist.fail_commit(
            self.backend, self._state, exc, self.errored_path, journal_complete=self._broken is None,
            unrecorded=self._unrecorded, refused=self._refused)
        self._broken, self._unrecorded, self._refused = None, [], []
        raise self._failure from exc

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
            try:
                written = self.backend.write(state, force=force)
            except OSError as exc:
                raise persist.io_error(exc, "write the state", self.backend.location) from exc
            # The state we wrote supersedes any leftover journal (its serial is
            # now above the journal's base), so dropping it loses nothing.
            if replayed.journal is not None:
                self.backend.journal_remove()
            self._state = written
            self._exists = True
            return written.model_copy(deep=True)

