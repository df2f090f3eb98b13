"""Local locking: holder details after the timeout, unlock, force-unlock."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import OP_APPLY, OP_PLAN, LocalBackend, LockInfo, StateManager


def test_second_writer_waits_then_fails_with_the_holders_details(state_path: Path) -> None:
    holder = StateManager(LocalBackend(state_path))
    lock_id = holder.lock(OP_APPLY, timeout_s=0)
    other = StateManager(LocalBackend(state_path))
    start = time.monotonic()
    with pytest.raises(DiagnosticsError, match="Error acquiring the state lock") as exc:
        other.lock(OP_PLAN, timeout_s=0.3)
    assert time.monotonic() - start >= 0.3
    detail = exc.value.diagnostics.errors[0].detail
    info = holder.current_lock()
    assert info is not None
    for expected in (f"ID:        {lock_id}", "Operation: OperationTypeApply",
                     f"Who:       {info.who}", f"Created:   {info.when}",
                     f"mlform force-unlock {lock_id}", str(state_path)):
        assert expected in detail
    holder.unlock()
    assert other.lock(OP_PLAN, timeout_s=0) != lock_id


def test_lock_file_holds_who_when_operation_and_is_removed_on_unlock(state_path: Path) -> None:
    b = LocalBackend(state_path)
    lock_id = b.lock(LockInfo(operation=OP_APPLY), timeout_s=0)
    info = json.loads(b.lock_path.read_text())
    assert info["id"] == lock_id and info["operation"] == OP_APPLY
    assert "@" in info["who"] and info["pid"] > 0 and info["path"] == str(state_path)
    assert b.current_lock() == LockInfo.model_validate(info)
    b.unlock(lock_id)
    assert not b.lock_path.exists()
    assert b.current_lock() is None


def test_waiter_gets_the_lock_when_the_holder_releases(state_path: Path) -> None:
    import threading

    a, b = LocalBackend(state_path), LocalBackend(state_path)
    a_id = a.lock(LockInfo(), 0)
    threading.Timer(0.15, a.unlock, args=(a_id,)).start()
    b_id = b.lock(LockInfo(), timeout_s=5)
    assert b.current_lock() is not None and (b.current_lock() or LockInfo()).id == b_id
    b.unlock(b_id)


def test_unlock_with_a_wrong_id_says_which_lock_is_held(state_path: Path) -> None:
    b = LocalBackend(state_path)
    lock_id = b.lock(LockInfo(), 0)
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as exc:
        b.unlock("not-the-id")
    assert "does not match" in exc.value.diagnostics.errors[0].detail
    assert lock_id in exc.value.diagnostics.errors[0].detail
    b.unlock(lock_id)


def test_force_unlock_needs_the_right_id(state_path: Path) -> None:
    stuck = LocalBackend(state_path)
    lock_id = stuck.lock(LockInfo(operation=OP_APPLY), 0)
    me = StateManager(LocalBackend(state_path))
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as exc:
        me.force_unlock("0000-wrong")
    assert "does not match" in exc.value.diagnostics.errors[0].detail
    me.force_unlock(lock_id)
    assert me.current_lock() is None
    new_id = me.lock(OP_APPLY, timeout_s=0)
    # The stuck holder finally releasing must not release the new lock.
    stuck.unlock(lock_id)
    held = me.current_lock()
    assert held is not None and held.id == new_id
    me.unlock()


def test_force_unlock_when_not_locked_errors(state_path: Path) -> None:
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as exc:
        StateManager(LocalBackend(state_path)).force_unlock("abc")
    assert "not locked" in exc.value.diagnostics.errors[0].detail


def test_leftover_lock_file_of_a_dead_process_does_not_block(state_path: Path) -> None:
    b = LocalBackend(state_path)
    b.lock_path.write_text(LockInfo(pid=999999).model_dump_json())  # nobody flock()s it
    assert b.current_lock() is None
    mgr = StateManager(b)
    with mgr.locked(OP_APPLY, timeout_s=0) as lock_id:
        assert (mgr.current_lock() or LockInfo()).id == lock_id
    assert mgr.current_lock() is None


def test_an_unreadable_lock_file_names_an_unknown_holder() -> None:
    info = LockInfo.parse(b"{not json")
    assert (info.id, info.who, info.operation, info.when, info.pid) == (
        "(unknown)", "(unknown)", "(unknown)", "(unknown)", 0)
    assert LockInfo.parse(info.model_dump_json()) == info


def test_the_lock_error_names_the_reason_the_holder_and_the_way_out() -> None:
    from mlform.engine.state.lock import lock_error

    holder = LockInfo(id="abc-123", who="ci@host", operation=OP_PLAN, info="nightly")
    d = lock_error(holder, "s.json", "it is held").diagnostics.errors[0]
    assert d.summary == "Error acquiring the state lock"
    assert d.detail.startswith("Could not lock s.json: it is held.\n\nLock Info:\n  ID:        abc-123\n")
    assert "  Info:      nightly\n" in d.detail
    assert d.detail.endswith("release the lock with:\n  mlform force-unlock abc-123")
    plain = lock_error(None, "s.json").diagnostics.errors[0].detail
    assert plain.startswith("Could not lock s.json: the state is locked by another process.\nmlform locks")
    assert "force-unlock" not in plain and "Lock Info" not in plain
    assert "  Info:" not in LockInfo(id="x", who="w", operation=OP_PLAN).describe()


class _Clock:
    """A clock the waiting loop reads and its sleep advances: no real time passes."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.now += s


def _always_held() -> LockInfo:
    return LockInfo(id="held", operation=OP_APPLY, who="someone@elsewhere")


def test_lock_timeout_zero_tries_once_and_does_not_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # -lock-timeout=0s: one attempt, then the error at once (no sleep, however fine the clock)
    from mlform.engine.state import lock as lock_mod

    clock = _Clock()
    monkeypatch.setattr(lock_mod.time, "monotonic", clock.monotonic)
    calls: list[int] = []

    def attempt() -> LockInfo:
        calls.append(1)
        return _always_held()

    with pytest.raises(DiagnosticsError):
        lock_mod.acquire(attempt, 0, "terraform.tfstate", sleep=clock.sleep)
    assert calls == [1]
    assert clock.sleeps == []


def test_a_waiting_run_backs_off_doubling_up_to_a_second_and_stops_at_its_timeout(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A long wait on a remote backend must not become a request storm: waits double from
    # 20 ms to at most 1 s, and the last one ends exactly at the timeout.
    from mlform.engine.state import lock as lock_mod

    clock = _Clock()
    monkeypatch.setattr(lock_mod.time, "monotonic", clock.monotonic)
    start = clock.now
    with pytest.raises(DiagnosticsError):
        lock_mod.acquire(_always_held, 5.0, "terraform.tfstate", sleep=clock.sleep)
    assert clock.sleeps[:7] == pytest.approx([0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0])
    assert max(clock.sleeps) == pytest.approx(1.0)
    assert clock.now - start == pytest.approx(5.0)  # waited its whole timeout, no longer
    assert len(clock.sleeps) == 10  # 1.26 s doubling, three 1 s waits, then the 0.74 s left
