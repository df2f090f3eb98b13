"""A full disk (ENOSPC) on the local backend, injected at os.write and fsync/fdatasync.

The same cases on a real, really full filesystem (a small tmpfs) are in
tests/integration/state/test_state_tmpfs_full.py. Here each system call is made
to fail exactly where it matters, to check that:

* the previous state document is never touched (byte for byte), and no
  temporary file is left beside it;
* an outcome whose journal write failed is kept in memory, nothing is
  appended after a failed write or sync, and an intent that cannot be
  recorded refuses its operation;
* every failure is a diagnostic that says "no space left on device" and
  what is intact, never an OSError;
* the journal left behind replays to everything acknowledged, with the
  intent of the operation whose outcome was lost still pending.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import LocalBackend, ResourceState, StateManager, new_operation_id
from mlform.engine.state.backends import local
from mlform.engine.state.persist import ERRORED_STATE_FILE


def _enospc(*_: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


class Disk:
    """Turns ENOSPC on and off for os.write, os.pwrite, os.fsync and os.fdatasync."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.full = False
        self.sync_fails = False
        real_write, real_pwrite = os.write, os.pwrite
        real_fsync, real_fdatasync = os.fsync, os.fdatasync

        def write(fd: int, data: Any) -> int:
            if self.full:
                # As a filesystem does it: a short write, then ENOSPC.
                if len(data) > 8 and not getattr(self, "_short", False):
                    self._short = True
                    return real_write(fd, bytes(data[:8]))
                _enospc()
            return real_write(fd, data)

        def sync(real: Callable[[int], None]) -> Callable[[int], None]:
            def f(fd: int) -> None:
                if self.sync_fails:
                    _enospc()
                real(fd)
            return f

        def pwrite(fd: int, data: bytes, offset: int) -> int:
            if self.full:
                _enospc()
            return real_pwrite(fd, data, offset)

        mp.setattr(os, "write", write)
        mp.setattr(os, "pwrite", pwrite)
        mp.setattr(os, "fsync", sync(real_fsync))
        mp.setattr(os, "fdatasync", sync(real_fdatasync))

    def fill(self) -> None:
        self.full, self._short = True, False

    def free(self) -> None:
        self.full = self.sync_fails = False


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Disk]:
    d = Disk(monkeypatch)
    yield d
    d.free()


def rs(address: str, **attributes: Any) -> ResourceState:
    kind, name = address.split(".", 1)
    return ResourceState(address=address, kind=kind, name=name, provider="local", attributes=attributes)


def _manager(tmp_path: Path) -> tuple[StateManager, LocalBackend]:
    backend = LocalBackend(tmp_path / "mlform.state.json")
    backend.project_dir = tmp_path  # where the errored file goes
    return StateManager(backend), backend


def _seeded(tmp_path: Path) -> tuple[StateManager, LocalBackend, bytes]:
    """A state holding model.a (serial 1), and its bytes."""
    mgr, backend = _manager(tmp_path)
    with mgr.locked():
        with mgr.session():
            op = new_operation_id()
            mgr.record_intent("model.a", op, "create")
            mgr.record_put(rs("model.a", v=1), done=op)
    return mgr, backend, backend.path.read_bytes()


def _leftovers(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))


def test_enospc_writing_the_journal_keeps_the_outcome_refuses_the_next_call_and_the_previous_state(
        tmp_path: Path, disk: Disk) -> None:
    mgr, backend, before = _seeded(tmp_path)
    with mgr.locked():
        mgr.begin()
        op_b = new_operation_id()
        mgr.record_intent("model.b", op_b, "create")
        disk.fill()
        mgr.record_put(rs("model.b", v=2), done=op_b)  # the call happened: kept, no error
        journal_size = backend.journal_path.stat().st_size
        with pytest.raises(DiagnosticsError) as refused:
            mgr.record_intent("model.c", new_operation_id(), "create")
        d = next(iter(refused.value.diagnostics))
        assert d.summary == "Failed to record the state: no space left on device"
        assert "model.c was not started" in d.detail
        assert mgr.snapshot().get("model.b") is not None  # in memory all along
        with pytest.raises(DiagnosticsError) as failed:
            mgr.commit()
    d = next(iter(failed.value.diagnostics))
    assert d.summary == "Failed to persist the state: no space left on device"
    assert "The previous state at" in d.detail and "is intact" in d.detail
    assert "model.b could not be recorded" in d.detail and "model.c" in d.detail
    assert backend.path.read_bytes() == before
    assert backend.journal_path.stat().st_size == journal_size  # nothing after the failure
    assert _leftovers(tmp_path) == [] and not (tmp_path / ERRORED_STATE_FILE).exists()

    disk.free()
    recovered = StateManager(LocalBackend(backend.path)).load()
    # What the journal acknowledged is there; model.b's intent is pending for
    # the next apply to look up (find_orphans), model.c was never started.
    assert [r.address for r in recovered.resources] == ["model.a"]
    assert [(p.address, p.operation_id) for p in recovered.pending_operations] == [("model.b", op_b)]


def test_enospc_from_fdatasync_is_a_failed_append_and_nothing_is_appended_after_it(
        tmp_path: Path, disk: Disk) -> None:
    mgr, backend, before = _seeded(tmp_path)
    with mgr.locked():
        mgr.begin()
        disk.sync_fails = True
        mgr.record_put(rs("model.y"))  # written, but its sync fails
        size = backend.journal_path.stat().st_size
        mgr.record_put(rs("model.z"))
        assert backend.journal_path.stat().st_size == size
        with pytest.raises(DiagnosticsError) as refused:
            mgr.record_intent("model.c", new_operation_id(), "create")
        assert "no space left on device" in next(iter(refused.value.diagnostics)).summary
        with pytest.raises(DiagnosticsError):
            mgr.commit()
    assert backend.path.read_bytes() == before
    assert _leftovers(tmp_path) == []


def test_an_intent_whose_sync_fails_is_not_started_and_not_left_pending(
        tmp_path: Path, disk: Disk) -> None:
    mgr, _, _ = _seeded(tmp_path)
    with mgr.locked():
        mgr.begin()
        disk.sync_fails = True
        with pytest.raises(DiagnosticsError) as refused:
            mgr.record_intent("model.c", new_operation_id(), "create")
        assert "model.c was not started" in next(iter(refused.value.diagnostics)).detail
        assert mgr.snapshot().pending_operations == []
        disk.free()
        mgr.commit()  # space again: the final write succeeds
    assert mgr.load().pending_operations == []


def test_enospc_at_the_final_write_leaves_the_previous_state_and_writes_the_errored_file(
        tmp_path: Path, disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    mgr, backend, before = _seeded(tmp_path)
    real = local.atomic_write
    # The state's filesystem is full; the project directory's is not (the
    # errored file goes through the same atomic write, so fail only the state's).
    monkeypatch.setattr(local, "atomic_write", _full_for(backend.path, local.atomic_write))
    with mgr.locked():
        with pytest.raises(DiagnosticsError) as failed:
            with mgr.session():
                op = new_operation_id()
                mgr.record_intent("model.b", op, "create")
                mgr.record_put(rs("model.b", v=2), done=op)
    d = next(iter(failed.value.diagnostics))
    assert d.summary == "Failed to persist the state: no space left on device"
    assert "mlform state push errored.mlform.state.json" in d.detail
    assert backend.path.read_bytes() == before
    errored = json.loads((tmp_path / ERRORED_STATE_FILE).read_text())
    assert [r["address"] for r in errored["resources"]] == ["model.a", "model.b"]
    assert errored["serial"] == 2 and (tmp_path / ERRORED_STATE_FILE).stat().st_mode & 0o777 == 0o600

    monkeypatch.setattr(local, "atomic_write", real)  # space again
    with mgr.locked():  # `state push`: the journal replays as serial 2 as well, so it is not older
        pushed = mgr.write_full(mgr.read_file(tmp_path / ERRORED_STATE_FILE))
    assert [r.address for r in pushed.resources] == ["model.a", "model.b"]
    assert not backend.journal_path.exists()


def _full_for(path: Path, real: Callable[..., None]) -> Callable[..., None]:
    def atomic_write(p: Path, data: bytes, mode: int = 0o600) -> None:
        if Path(p) == path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(p))
        real(p, data, mode)
    return atomic_write


def test_a_disk_that_fills_and_frees_mid_session_costs_one_full_write(tmp_path: Path, disk: Disk) -> None:
    mgr, backend, _ = _seeded(tmp_path)
    with mgr.locked():
        with mgr.session():
            op = new_operation_id()
            mgr.record_intent("model.b", op, "create")
            disk.fill()
            mgr.record_put(rs("model.b"), done=op)
            disk.free()
            op = new_operation_id()
            mgr.record_intent("model.c", op, "create")  # starts over: full write, new journal
            assert backend.read_document() is not None and backend.read_document().get("model.b")  # type: ignore[union-attr]
            mgr.record_put(rs("model.c"), done=op)
    state = mgr.load()
    assert [r.address for r in state.resources] == ["model.a", "model.b", "model.c"]
    assert state.pending_operations == [] and not backend.journal_path.exists()


def test_state_surgery_and_begin_on_a_full_disk_are_diagnostics(tmp_path: Path, disk: Disk) -> None:
    mgr, backend, before = _seeded(tmp_path)
    state = mgr.load()
    state.remove("model.a")
    with mgr.locked():
        disk.fill()
        with pytest.raises(DiagnosticsError) as surgery:
            mgr.write_full(state)
        with pytest.raises(DiagnosticsError) as begin:
            mgr.begin()
    for e in (surgery.value, begin.value):
        d = next(iter(e.diagnostics))
        assert "no space left on device" in d.summary and "is intact" in d.detail
    assert backend.path.read_bytes() == before and _leftovers(tmp_path) == []


def test_locking_on_a_full_disk_is_a_diagnostic_and_holds_nothing(tmp_path: Path, disk: Disk) -> None:
    mgr, backend, _ = _seeded(tmp_path)
    disk.fill()
    with pytest.raises(DiagnosticsError) as e:
        mgr.lock()
    assert next(iter(e.value.diagnostics)).summary == "Failed to lock the state: no space left on device"
    disk.free()
    assert backend.current_lock() is None
    with mgr.locked():  # and it can be taken once there is space
        pass


def test_errored_state_is_sealed_like_the_state_when_encryption_is_on(tmp_path: Path, enc: Any,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    backend = LocalBackend(tmp_path / "mlform.state.json", enc)
    backend.project_dir = tmp_path
    mgr = StateManager(backend)
    monkeypatch.setattr(local, "atomic_write", _full_for(backend.path, local.atomic_write))
    with mgr.locked(), pytest.raises(DiagnosticsError):
        with mgr.session():
            mgr.record_put(rs("endpoint.e", token="s3cr3t-value"))
    raw = (tmp_path / ERRORED_STATE_FILE).read_bytes()
    assert b"s3cr3t-value" not in raw and b"ciphertext" in raw
    assert mgr.read_file(tmp_path / ERRORED_STATE_FILE).get("endpoint.e") is not None
