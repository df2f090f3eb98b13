"""kill -9 at random points while recording: recovery loses nothing acknowledged."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

import pytest

from mlform.engine.state import LocalBackend, State, StateManager

WORKER = Path(__file__).with_name("state_crash_worker.py")
CRASH_POINTS = 60


@dataclass
class Report:
    """What a killed worker acknowledged, from its report file."""

    tries: dict[str, tuple[str, str, int]] = field(default_factory=dict)
    intents: set[str] = field(default_factory=set)
    done: list[str] = field(default_factory=list)
    resolved: set[str] = field(default_factory=set)
    ready: bool = False
    commits: int = 0

    @classmethod
    def parse(cls, path: Path) -> Report:
        r = cls()
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            word, *rest = line.split()
            if word == "ready":
                r.ready = True
            elif word == "try":
                op, action, address, n = rest
                r.tries[op] = (action, address, int(n))
            elif word == "intent":
                r.intents.add(rest[0])
            elif word == "done":
                r.done.append(rest[0])
            elif word == "resolved":
                r.resolved.add(rest[0])
            elif word == "committed":
                r.commits += 1
        return r

    def inflight(self) -> str | None:
        """The one operation that may have landed without being reported."""
        done = set(self.done)
        open_ops = [op for op in self.tries if op not in done]
        assert len(open_ops) <= 1, open_ops
        return open_ops[0] if open_ops else None


def _line(stream: IO[str]) -> str:
    line = stream.readline()
    assert line, "crash helper died"
    return line.strip()


def _wait_ready(report_path: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if report_path.exists() and "ready" in report_path.read_text():
            return
        time.sleep(0.001)
    raise AssertionError("worker never got ready")


@pytest.fixture
def run_dir(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when available: a process kill keeps the page cache, so the disk
    adds nothing to what is checked here, only fsync waits on a busy machine."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="mlform-crash-", dir=shm) as d:
        yield Path(d)


def test_kill_9_at_random_points_loses_nothing_recorded(run_dir: Path) -> None:
    tmp_path = run_dir
    state_path = tmp_path / "mlform.state.json"
    helper = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert helper.stdin is not None and helper.stdout is not None
    confirmed: dict[str, int] = {}
    outstanding: set[str] = set()
    last_serial, lineage = 0, None
    acknowledged = ready_kills = 0
    try:
        for seed in range(CRASH_POINTS):
            rng = random.Random(seed)
            report_path = tmp_path / f"report-{seed}.txt"
            helper.stdin.write(f"RUN {state_path} {report_path} {seed} {seed * 100_000}\n")
            helper.stdin.flush()
            pid = int(_line(helper.stdout).split()[1])
            # Odd seeds: anywhere from the start, often during lock, recovery
            # and compaction. Even seeds: somewhere inside the recording run.
            if seed % 2 == 0:
                _wait_ready(report_path)
            time.sleep(rng.uniform(0, 0.03))
            os.kill(pid, signal.SIGKILL)
            status = int(_line(helper.stdout).split()[1])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"worker {seed} ended on its own (status {status}); see its stderr")

            report = Report.parse(report_path)
            ready_kills += report.ready
            acknowledged += len(report.done)
            recovered = LocalBackend(state_path).read() or State(serial=0)
            if lineage is not None:
                assert recovered.lineage == lineage
            if recovered.serial:
                lineage = recovered.lineage

            # Everything acknowledged is there; only the in-flight op may differ.
            expected = dict(confirmed)
            for op in report.done:
                action, address, n = report.tries[op]
                if action == "put":
                    expected[address] = n
                else:
                    expected.pop(address, None)
            got = {r.address: int(r.attributes["n"]) for r in recovered.resources}
            inflight = report.inflight()
            allowed = [expected]
            if inflight is not None:
                action, address, n = report.tries[inflight]
                landed = dict(expected)
                if action == "put":
                    landed[address] = n
                else:
                    landed.pop(address, None)
                allowed.append(landed)
            assert got in allowed, f"crash point {seed}: lost acknowledged records"

            # Intents: acknowledged ones are never lost; closed ones never linger.
            pending = {i.operation_id for i in recovered.pending_operations}
            assert not pending & set(report.done)
            assert not pending & report.resolved
            assert pending <= outstanding | set(report.tries), seed
            assert len(outstanding - report.resolved - pending) <= 1, seed
            if inflight in report.intents and got == expected and (
                    report.tries[inflight][0] == "put"):
                assert inflight in pending, f"crash point {seed}: acknowledged intent lost"

            assert recovered.serial >= last_serial
            last_serial = recovered.serial
            confirmed = got
            outstanding = pending
    finally:
        helper.stdin.close()
        helper.wait(timeout=10)
        helper.stdout.close()

    assert ready_kills >= CRASH_POINTS // 2, "half the kills land inside the run"
    assert acknowledged > 100, "the workers should have recorded a good deal"
    # A clean run afterwards compacts everything and leaves no journal behind.
    mgr = StateManager(LocalBackend(state_path))
    with mgr.locked(timeout_s=0):
        mgr.load()
        with mgr.session():
            for intent in mgr.pending_intents():
                mgr.record_done(intent.operation_id)
    final = LocalBackend(state_path).read()
    assert final is not None
    assert {r.address: r.attributes["n"] for r in final.resources} == confirmed
    assert final.pending_operations == []
    assert not state_path.with_name(state_path.name + ".journal").exists()
