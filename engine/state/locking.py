"""The lock half of :class:`~.manager.StateManager`: take, release, force, inspect.

Kept apart from the reading and recording half so each stays readable. A
release that fails is reported with the lock's ID for ``mlform force-unlock``,
after the failed commit's diagnostic when there is one (see ``persist.py``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..diagnostics import Diagnostic, DiagnosticsError
from . import persist
from .backend import Backend
from .lock import OP_APPLY, LockInfo, LockMismatch
from .model import State


class Locking:
    """Locking for a manager around ``self.backend`` (a mixin of StateManager)."""

    backend: Backend
    _lock_id: str | None
    _kept: State | None
    _failure: DiagnosticsError | None

    def lock(self, operation: str = OP_APPLY, timeout_s: float = 0.0, info: str = "") -> str:
        """Take the backend's lock for ``operation``; returns the lock ID.

        Raises :class:`DiagnosticsError` ("Error acquiring the state lock",
        with the holder's details) after ``timeout_s``.
        """
        try:
            lock_id = self.backend.lock(LockInfo(operation=operation, info=info), timeout_s)
        except OSError as exc:
            raise persist.io_error(exc, "lock the state", self.backend.location) from exc
        self._lock_id = lock_id
        return lock_id

    def unlock(self) -> None:
        """Release the lock taken by :meth:`lock` (no-op when none is held).

        A lock that cannot be released raises "Error releasing the state
        lock" with its ID for ``mlform force-unlock``. It is usually called in
        a ``finally`` after a failed commit, so the commit's diagnostic comes
        first in the same error rather than being replaced by this one.
        """
        self._kept = None
        failure, self._failure = self._failure, None
        if self._lock_id is None:
            return
        lock_id, self._lock_id = self._lock_id, None
        try:
            self.backend.unlock(lock_id)
        except Exception as exc:
            diags: list[Diagnostic] = list(failure.diagnostics) if failure is not None else []
            if isinstance(exc, LockMismatch):
                diags += list(exc.diagnostics)
            else:
                diags.append(persist.unlock_failed(lock_id, self.backend.location, exc))
            raise DiagnosticsError(diags) from exc

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
