"""The local backend's files over a long session: no descriptor left open, every record synced
(also when many threads append at once, or appends are grouped), and lock/unlock errors that say
what is wrong.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import LocalBackend, LockInfo, ResourceState, State, StateManager
from mlform.engine.state.journal import JournalHeader, PutEntry


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_long_session_leaves_no_file_descriptor_open(state_path: Path,
                                                       make_rs: Callable[..., ResourceState]) -> None:
    """A process that runs many applies (a CI runner, a server using mlform) must not run out of files."""
    m = StateManager(LocalBackend(state_path))
    m.begin("apply")
    m.record_put(make_rs("model.m", v=0))
    m.commit()
    before = _open_fds()
    for i in range(20):
        with m.locked():
            m.begin("apply")
            m.record_put(make_rs("model.m", v=i))
            m.commit()
        m.current_lock()
        LocalBackend(state_path).read()
    assert _open_fds() == before


def test_appends_in_a_deferred_block_are_synced_when_it_ends(state_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             make_rs: Callable[..., ResourceState]) -> None:
    synced: list[int] = []
    real = os.fdatasync

    def fdatasync(fd: int) -> None:
        synced.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fdatasync", fdatasync)
    b = LocalBackend(state_path)
    base = b.write(State())
    b.journal_start(JournalHeader(lineage=base.lineage, base_serial=base.serial))
    n = len(synced)
    with b.deferred_sync():
        for i in range(5):
            b.journal_append(b.encode(PutEntry(resource=make_rs(f"model.m{i}", v=i))))
        assert len(synced) == n  # grouped: nothing synced yet
    assert len(synced) == n + 1  # one sync for the five
    b.journal_append(b.encode(PutEntry(resource=make_rs("model.z", v=1))))
    assert len(synced) == n + 2  # outside a block, each append is synced before it returns
    j = b.journal_read()
    assert j is not None and len(j.entries) == 6


def test_many_threads_appending_at_once_all_finish_with_every_record_on_disk(
        state_path: Path, make_rs: Callable[..., ResourceState]) -> None:
    b = LocalBackend(state_path)
    base = b.write(State())
    b.journal_start(JournalHeader(lineage=base.lineage, base_serial=base.serial))
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        try:
            for i in range(25):
                b.journal_append(b.encode(PutEntry(resource=make_rs(f"model.t{t}", v=i))))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an append never returned (its sync was never signalled)"
    assert errors == []
    j = b.journal_read()
    assert j is not None and len(j.entries) == 200
    b.journal_close()


def test_unlocking_what_is_not_locked_or_another_lock_is_refused_with_the_holder(state_path: Path) -> None:
    b = LocalBackend(state_path)
    with pytest.raises(DiagnosticsError) as exc:
        b.force_unlock("no-such-lock")
    assert exc.value.diagnostics.errors[0].detail == f"{state_path} is not locked; there is nothing to unlock."
    lock_id = b.lock(LockInfo(operation="OperationTypeApply"), 0)
    for attempt in (b.unlock, b.force_unlock, LocalBackend(state_path).unlock):
        with pytest.raises(DiagnosticsError) as exc:
            attempt("wrong-id")
        detail = exc.value.diagnostics.errors[0].detail
        assert "Lock ID 'wrong-id' does not match the lock on" in detail and f"mlform force-unlock {lock_id}" in detail
    assert b.current_lock() is not None  # none of them released it
    other: Any = LocalBackend(state_path)
    with pytest.raises(DiagnosticsError) as exc:
        other.unlock(lock_id)  # the right ID, but this process did not take it
    assert "is held by another process" in exc.value.diagnostics.errors[0].detail
    b.unlock(lock_id)
    assert b.current_lock() is None and not b.lock_path.exists()


def test_closing_the_journal_releases_its_file_and_keeps_it_on_disk(state_path: Path,
                                                                    make_rs: Callable[..., ResourceState]) -> None:
    """After a failed commit the journal stays for the next run, but this process lets go of it."""
    b = LocalBackend(state_path)
    base = b.write(State())
    before = _open_fds()
    b.journal_start(JournalHeader(lineage=base.lineage, base_serial=base.serial))
    b.journal_append(b.encode(PutEntry(resource=make_rs("model.m", v=1))))
    assert _open_fds() == before + 1
    b.journal_close()
    assert _open_fds() == before
    j = b.journal_read()
    assert j is not None and len(j.entries) == 1


def test_lock_attempts_on_a_held_lock_leave_no_descriptor_open(state_path: Path) -> None:
    """A run waiting for the lock retries many times (--lock-timeout): each try must let its file go."""
    holder = LocalBackend(state_path)
    lock_id = holder.lock(LockInfo(operation="OperationTypeApply"), 0)
    waiting = LocalBackend(state_path)
    before = _open_fds()
    for _ in range(20):
        with pytest.raises(DiagnosticsError, match="Error acquiring the state lock"):
            waiting.lock(LockInfo(operation="OperationTypePlan"), 0)
    assert _open_fds() == before
    holder.unlock(lock_id)


def test_a_state_in_folders_that_do_not_exist_yet_can_be_locked_and_written(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "states" / "prod" / "mlform.state.json")
    lock_id = b.lock(LockInfo(operation="OperationTypeApply"), 0)
    assert b.write(State()).serial == 1
    b.unlock(lock_id)
    assert (tmp_path / "states" / "prod" / "mlform.state.json").exists()
