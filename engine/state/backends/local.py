"""The local backend: a state file, its backup, journal and lock file.

Files beside ``mlform.state.json``::

    mlform.state.json           the document (mode 0600: it may hold secrets)
    mlform.state.json.backup    the previous version
    mlform.state.json.journal   records of an apply in progress (JSONL)
    mlform.state.json.lock      LockInfo JSON, flock()ed while held

Durability: a document write goes to a temporary file in the same directory,
is fsync'd, renamed over the old one, and the directory is fsync'd so the
rename itself survives a power cut. Journal appends are one ``write`` plus
``fdatasync`` each.

Locking uses ``flock`` on the lock file: the kernel drops it when the holder
dies (even by ``kill -9``), so a crashed run never leaves the state locked.
"""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ...diagnostics import error
from ..backend import ClientBackend
from ..crypto import Encryptor
from ..lock import LockInfo, LockMismatch, unlock_mismatch


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def atomic_write(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old or new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class LocalClient:
    """Byte storage and flock-based locking for a state file on local disk."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        self.backup_location = str(self.backup_path)
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._journal_fd: int | None = None
        self._locks: dict[str, int] = {}
        self._mu = threading.Lock()
        # Group commit: appends from many threads share one fdatasync.
        self._sync_cv = threading.Condition()
        self._tls = threading.local()
        self._written = 0  # records written to the journal file
        self._synced = 0  # records known durable
        self._syncing = False
        # The first failed write or sync of the journal. Nothing is appended
        # after it: a short write may have left a partial line, and a record
        # after it would turn an ignorable torn tail into damage in the middle.
        # (And after a failed fdatasync Linux may report the next one clean
        # although the data was dropped, so a retry proves nothing.)
        self._failed: OSError | None = None

    # -- document ------------------------------------------------------------

    def get_state(self) -> bytes | None:
        data = _read(self.path)
        # An empty file is what `touch` leaves; treat it as "no state yet".
        return data if data else None

    def get_backup(self) -> bytes | None:
        return _read(self.backup_path)

    def put_state(self, data: bytes, backup: bytes | None) -> None:
        # Backup first: a crash between the two leaves backup == state, which
        # is harmless; the reverse order could leave no copy of the old one.
        if backup is not None:
            atomic_write(self.backup_path, backup)
        atomic_write(self.path, data)

    # -- journal ---------------------------------------------------------------

    def journal_read(self) -> bytes | None:
        return _read(self.journal_path)

    def journal_start(self, header: bytes) -> None:
        with self._mu:
            if self._journal_fd is not None or self.journal_path.exists():
                raise RuntimeError(f"{self.journal_path} already exists; compact it first")
            atomic_write(self.journal_path, header)
            self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
            self._written = self._synced = 0
            self._failed = None

    def journal_append(self, line: bytes) -> None:
        with self._mu:
            if self._journal_fd is None:
                raise RuntimeError("journal_append before journal_start")
            if self._failed is not None:
                raise OSError(self._failed.errno, self._failed.strerror, str(self.journal_path))
            # One write per record: a crash can only tear the last line, which
            # the reader ignores.
            try:
                _write_all(self._journal_fd, line)
            except OSError as exc:
                self._failed = exc
                raise OSError(exc.errno, exc.strerror, str(self.journal_path)) from exc
            self._written += 1
            seq, fd = self._written, self._journal_fd
        if getattr(self._tls, "defer", False):
            self._tls.pending = (seq, fd)  # made durable when deferred_sync() exits
            return
        self._sync_upto(seq, fd)

    @contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Appends by this thread inside the block are durable when it exits.

        Lets a caller write a record under its own lock (keeping the order of
        records) and wait for the disk outside it, where the waits of many
        threads coincide in one fdatasync.
        """
        self._tls.defer, self._tls.pending = True, None
        try:
            yield
        finally:
            self._tls.defer = False
        pending, self._tls.pending = self._tls.pending, None
        if pending is not None:
            self._sync_upto(*pending)

    def _sync_upto(self, seq: int, fd: int) -> None:
        """Return once record ``seq`` is durable (group commit).

        One thread runs fdatasync for every record written so far while the
        others wait for it; so an apply with 10 workers pays about one sync
        per round of records instead of one per record, and each record is
        still durable before its ``journal_append`` returns.
        """
        with self._sync_cv:
            while self._synced < seq:
                if self._failed is not None:
                    raise OSError(self._failed.errno, self._failed.strerror, str(self.journal_path))
                if self._syncing:
                    self._sync_cv.wait()
                    continue
                self._syncing = True
                target = self._written
                self._sync_cv.release()
                try:
                    os.fdatasync(fd)
                except OSError as exc:
                    self._failed = exc
                    raise OSError(exc.errno, exc.strerror, str(self.journal_path)) from exc
                finally:
                    self._sync_cv.acquire()
                    self._syncing = False
                    self._sync_cv.notify_all()
                self._synced = max(self._synced, target)

    def journal_close(self) -> None:
        """Stop appending, leaving the journal on disk (the next command replays it)."""
        with self._mu:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None

    def journal_remove(self) -> None:
        with self._mu:
            if self._journal_fd is not None:
                os.close(self._journal_fd)
                self._journal_fd = None
            try:
                os.unlink(self.journal_path)
            except FileNotFoundError:
                return
            _fsync_dir(self.journal_path.parent)

    # -- locking -----------------------------------------------------------------

    def _holder(self) -> LockInfo:
        data = _read(self.lock_path)
        # Between the holder's flock and its info write the file is empty.
        return LockInfo.parse(data) if data else LockInfo.parse(b"")

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            if not self._flock_exclusive(fd):
                os.close(fd)
                return self._holder()
            # The previous holder may have unlinked the file between our open
            # and flock; then we locked an orphan inode and must retry.
            try:
                same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, info.model_dump_json(indent=2).encode("utf-8"), 0)
                os.fsync(fd)
            except OSError:
                self._release(fd)  # a full disk: do not keep a lock nobody can see
                raise
            with self._mu:
                self._locks[info.id] = fd
            return None
        return self._holder()

    @staticmethod
    def _flock_exclusive(fd: int) -> bool:
        # current_lock() probes with a shared flock held for microseconds;
        # a few quick retries keep that probe from failing a lock attempt
        # made with --lock-timeout=0.
        for attempt in range(3):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if attempt < 2:
                time.sleep(0.002)
        return False

    def _release(self, fd: int) -> None:
        # Unlink before closing: a waiter that then locks the old inode sees
        # it is no longer at the path and retries with a fresh file.
        try:
            if os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.lock_path)
        except FileNotFoundError:
            pass
        os.close(fd)

    def unlock(self, lock_id: str) -> None:
        with self._mu:
            fd = self._locks.pop(lock_id, None)
        if fd is None:
            holder = self.current_lock()
            if holder is not None and holder.id == lock_id:
                raise LockMismatch(error(
                    "Error unlocking the state",
                    f"Lock {lock_id} on {self.location} is held by another process "
                    f"({holder.who}, pid {holder.pid}). If that process is gone, run "
                    f"`mlform force-unlock {lock_id}`.",
                ))
            raise unlock_mismatch(lock_id, holder, self.location)
        self._release(fd)

    def force_unlock(self, lock_id: str) -> None:
        holder = self.current_lock()
        if holder is None or holder.id != lock_id:
            raise unlock_mismatch(lock_id, holder, self.location)
        with self._mu:
            fd = self._locks.pop(lock_id, None)
        if fd is not None:
            self._release(fd)
            return
        # The holder is alive but stuck (a dead one holds no flock). Removing
        # the file lets new runs lock a fresh one; the user asked for it.
        try:
            os.unlink(self.lock_path)
        except FileNotFoundError:
            pass

    def current_lock(self) -> LockInfo | None:
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            return self._holder()
        finally:
            os.close(fd)
        # Nobody holds it: a leftover file from a process that died.
        return None


class LocalBackend(ClientBackend):
    """State in a local file (the default ``mlform.state.json``)."""

    def __init__(self, path: Path, encryption: Encryptor | None = None) -> None:
        self.local = LocalClient(path)
        super().__init__(self.local, encryption)

    @property
    def path(self) -> Path:
        return self.local.path

    @property
    def backup_path(self) -> Path:
        return self.local.backup_path

    @property
    def journal_path(self) -> Path:
        return self.local.journal_path

    @property
    def lock_path(self) -> Path:
        return self.local.lock_path
