"""plan reads the state once: the recovery check's decode is handed to planning.

Only while the lock is held (nobody can write the state in between), only
once (each load() still returns an object no one else holds), and never
across a write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.state import LocalBackend, ResourceState, State, StateManager


@pytest.fixture
def reads(state_path: Path, make_rs: Callable[..., ResourceState]) -> tuple[StateManager, list[int]]:
    backend = LocalBackend(state_path)
    backend.write(State(resources=[make_rs("prompt.p", version="v1")]))
    calls: list[int] = []
    real = backend.read

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    backend.read = counting  # type: ignore[method-assign]
    return StateManager(backend), calls


def test_under_the_lock_the_recovery_check_and_the_plan_share_one_read(
        reads: tuple[StateManager, list[int]]) -> None:
    mgr, calls = reads
    mgr.lock()
    assert mgr.pending_intents() == []
    state = mgr.load()
    assert len(calls) == 1
    assert state.by_address()["prompt.p"].attributes == {"version": "v1"}
    # the next load is a fresh object again: callers may modify what they get
    again = mgr.load()
    assert len(calls) == 2 and again is not state
    mgr.unlock()


def test_without_the_lock_every_load_reads(reads: tuple[StateManager, list[int]]) -> None:
    mgr, calls = reads
    mgr.pending_intents()
    mgr.load()
    assert len(calls) == 2


def test_a_write_or_unlock_in_between_drops_the_kept_state(
        reads: tuple[StateManager, list[int]], make_rs: Callable[..., ResourceState]) -> None:
    mgr, calls = reads
    mgr.lock()
    mgr.pending_intents()
    with mgr.session("apply"):
        mgr.record_put(make_rs("prompt.p", version="v2"))
    assert mgr.load().by_address()["prompt.p"].attributes == {"version": "v2"}

    mgr.pending_intents()
    mgr.unlock()
    mgr.lock()
    before = len(calls)
    mgr.load()
    assert len(calls) == before + 1
    mgr.unlock()
