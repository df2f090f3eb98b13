"""Two processes contend for the local state lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import OP_APPLY, LocalBackend, StateManager

# Takes the lock (waiting up to argv[2] seconds), says so, holds it until
# stdin closes. On failure prints the diagnostic as JSON and exits 3.
CONTENDER = """
import json, sys
from pathlib import Path
from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import OP_APPLY, LocalBackend, StateManager
mgr = StateManager(LocalBackend(Path(sys.argv[1])))
try:
    lock_id = mgr.lock(OP_APPLY, timeout_s=float(sys.argv[2]))
except DiagnosticsError as e:
    d = e.diagnostics.errors[0]
    print(json.dumps({"summary": d.summary, "detail": d.detail}), flush=True)
    sys.exit(3)
print(json.dumps({"locked": lock_id}), flush=True)
sys.stdin.read()
mgr.unlock()
"""


def contender(state_path: Path, timeout_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CONTENDER, str(state_path), str(timeout_s)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def test_exactly_one_of_two_processes_gets_the_lock(tmp_path: Path) -> None:
    state_path = tmp_path / "mlform.state.json"
    procs = [contender(state_path, 0.5), contender(state_path, 0.5)]
    try:
        first = [json.loads(p.stdout.readline()) for p in procs]  # type: ignore[union-attr]
        winners = [(p, r) for p, r in zip(procs, first) if "locked" in r]
        losers = [(p, r) for p, r in zip(procs, first) if "locked" not in r]
        assert len(winners) == 1 and len(losers) == 1, first
        (winner, won), (loser, lost) = winners[0], losers[0]
        assert loser.wait(timeout=10) == 3
        assert lost["summary"] == "Error acquiring the state lock"
        holder = LocalBackend(state_path).current_lock()
        assert holder is not None and holder.id == won["locked"] and holder.pid == winner.pid
        for fact in (won["locked"], holder.who, "OperationTypeApply", holder.when,
                     f"mlform force-unlock {won['locked']}"):
            assert fact in lost["detail"]
    finally:
        for p in procs:
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(timeout=10)
            p.stdout.close()  # type: ignore[union-attr]
    assert LocalBackend(state_path).current_lock() is None


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    state_path = tmp_path / "mlform.state.json"
    holder = contender(state_path, 0)
    try:
        assert "locked" in json.loads(holder.stdout.readline())  # type: ignore[union-attr]
        mgr = StateManager(LocalBackend(state_path))
        with pytest.raises(DiagnosticsError, match="Error acquiring the state lock"):
            mgr.lock(OP_APPLY, timeout_s=0)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        # The kernel drops a dead process's lock: taking it needs no waiting at all.
        mgr.lock(OP_APPLY, timeout_s=0)
        mgr.unlock()
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.stdin.close()  # type: ignore[union-attr]
        holder.wait(timeout=10)
        holder.stdout.close()  # type: ignore[union-attr]
