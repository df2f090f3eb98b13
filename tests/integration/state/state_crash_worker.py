"""Crash-test helper: a fork server whose children record to a state journal until killed.

Run as a script. It imports mlform once, then for each ``RUN`` line on stdin
forks a worker and prints ``PID <pid>``; when the worker dies (the test
kills it with SIGKILL) it prints ``EXIT <status>``. Forking from a warm
process keeps 60 crash points fast; the kill itself is a real ``kill -9``.

A worker takes the lock, recovers what the previous (killed) worker left,
then records random puts/removes with intents, committing now and then, and
after each call returns appends a line to the report file - so every
reported record was acknowledged by the state manager before the kill.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from mlform.engine.state import (
    OP_APPLY,
    LocalBackend,
    ResourceState,
    StateManager,
    new_operation_id,
)


def _report(fd: int, line: str) -> None:
    os.write(fd, (line + "\n").encode())


def workload(state_path: str, report_path: str, seed: int, start: int) -> None:
    rng = random.Random(seed)
    out = os.open(report_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    mgr = StateManager(LocalBackend(Path(state_path)))
    # timeout 0: the killed predecessor's flock must already be gone.
    mgr.lock(OP_APPLY, timeout_s=0)
    mgr.load()
    mgr.begin()
    _report(out, "ready")
    for intent in mgr.pending_intents():
        mgr.record_done(intent.operation_id)
        _report(out, f"resolved {intent.operation_id}")
    n = start
    while True:
        address = f"model.r{rng.randrange(12)}"
        op = new_operation_id()
        if rng.random() < 0.8:
            _report(out, f"try {op} put {address} {n}")
            mgr.record_intent(address, op, "create")
            _report(out, f"intent {op}")
            mgr.record_put(ResourceState(address=address, kind="model", name=address[6:],
                                         provider="local", attributes={"n": n}), done=op)
            _report(out, f"done {op}")
        else:
            _report(out, f"try {op} remove {address} 0")
            mgr.record_intent(address, op, "delete")
            _report(out, f"intent {op}")
            mgr.record_remove(address, done=op)
            _report(out, f"done {op}")
        n += 1
        if rng.random() < 0.08:
            mgr.commit()
            mgr.begin()
            _report(out, "committed")


def serve() -> None:
    for line in sys.stdin:
        _, state_path, report_path, seed, start = line.split()
        pid = os.fork()
        if pid == 0:
            try:
                workload(state_path, report_path, int(seed), int(start))
            finally:
                os._exit(1)
        print(f"PID {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"EXIT {status}", flush=True)


if __name__ == "__main__":
    serve()
