"""The state manager's lock as a run uses it: take, hold, release, force, and a release that fails.

A real local backend throughout; the failing release is a local backend whose ``unlock`` (and,
in one test, whose state write) raises ``OSError``, as an unreachable remote backend does. That
failure cannot be made to happen to a local lock file here (the suite runs as root, so
permissions do not stop it), hence the injected error; tests/integration/state/
test_state_backend_faults.py shows the same with S3 (moto) stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import OP_APPLY, OP_PLAN, LocalBackend, ResourceState, StateManager


class _Unreachable(LocalBackend):
    """A local backend that loses its connection: unlock raises OSError (and writes, once told)."""

    def unlock(self, lock_id: str) -> None:
        raise ConnectionError("connection reset by peer")

    def lose_writes(self) -> None:
        def put_state(data: bytes, backup: bytes | None) -> None:
            raise ConnectionError("connection reset by peer")
        self.local.put_state = put_state  # type: ignore[method-assign]


def test_the_lock_id_is_the_holder_s_and_another_run_gets_the_lock_after_release(state_path: Path) -> None:
    mgr = StateManager(LocalBackend(state_path))
    assert mgr.lock_id is None and mgr.current_lock() is None
    lock_id = mgr.lock(OP_APPLY, timeout_s=0)
    assert lock_id and mgr.lock_id == lock_id
    held = mgr.current_lock()
    assert held is not None and held.id == lock_id and held.operation == OP_APPLY
    other = StateManager(LocalBackend(state_path))
    with pytest.raises(DiagnosticsError, match="Error acquiring the state lock"):
        other.lock(OP_PLAN, timeout_s=0)
    mgr.unlock()
    assert mgr.lock_id is None and mgr.current_lock() is None
    assert other.lock(OP_PLAN, timeout_s=0) != lock_id
    mgr.unlock()  # holding nothing: nothing to release, no error
    other.unlock()


def test_locked_releases_the_lock_when_the_block_ends_or_fails(state_path: Path) -> None:
    mgr = StateManager(LocalBackend(state_path))
    with mgr.locked(OP_APPLY) as lock_id:
        assert mgr.current_lock() is not None and mgr.current_lock().id == lock_id  # type: ignore[union-attr]
    assert mgr.current_lock() is None
    with pytest.raises(RuntimeError):
        with mgr.locked(OP_APPLY):
            raise RuntimeError("the apply failed")
    assert mgr.current_lock() is None


def test_force_unlock_frees_a_lock_another_run_holds(state_path: Path) -> None:
    stuck = StateManager(LocalBackend(state_path))
    lock_id = stuck.lock(OP_APPLY, timeout_s=0)
    rescuer = StateManager(LocalBackend(state_path))
    rescuer.force_unlock(lock_id)
    assert rescuer.current_lock() is None
    assert rescuer.lock(OP_APPLY, timeout_s=0) != lock_id


def test_a_release_that_fails_names_the_lock_for_force_unlock(state_path: Path) -> None:
    mgr = StateManager(_Unreachable(state_path))
    lock_id = mgr.lock(OP_APPLY, timeout_s=0)
    with pytest.raises(DiagnosticsError) as exc:
        mgr.unlock()
    (d,) = exc.value.diagnostics
    assert d.summary == "Error releasing the state lock"
    assert "connection reset by peer" in d.detail and f"mlform force-unlock {lock_id}" in d.detail
    assert mgr.lock_id is None  # not released twice


def test_after_a_failed_write_the_write_error_comes_first_then_the_lock(
        state_path: Path, make_rs: Callable[..., ResourceState], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(state_path.parent)  # the errored state is written to the working directory
    backend = _Unreachable(state_path)
    mgr = StateManager(backend)
    lock_id = mgr.lock(OP_APPLY, timeout_s=0)
    mgr.begin("apply")
    mgr.record_put(make_rs("model.m", digest="sha256:1"))
    backend.lose_writes()
    with pytest.raises(DiagnosticsError) as failed:
        mgr.commit()
    with pytest.raises(DiagnosticsError) as exc:
        mgr.unlock()
    summaries = [x.summary for x in exc.value.diagnostics]
    assert summaries == [*(x.summary for x in failed.value.diagnostics), "Error releasing the state lock"], summaries
    assert f"mlform force-unlock {lock_id}" in list(exc.value.diagnostics)[-1].detail
    errored = state_path.parent / "errored.mlform.state.json"
    assert "sha256:1" in errored.read_text(), "the state that could not be written was kept"


def test_a_release_after_a_clean_commit_reports_only_the_lock(state_path: Path,
                                                              make_rs: Callable[..., Any]) -> None:
    mgr = StateManager(_Unreachable(state_path))
    mgr.lock(OP_APPLY, timeout_s=0)
    mgr.begin("apply")
    mgr.record_put(make_rs("model.m", digest="sha256:1"))
    mgr.commit()
    with pytest.raises(DiagnosticsError) as exc:
        mgr.unlock()
    assert [x.summary for x in exc.value.diagnostics] == ["Error releasing the state lock"]
