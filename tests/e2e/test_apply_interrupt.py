"""Ctrl-C and SIGTERM during a real ``mlform apply`` process, with real signals.

The first signal: nothing new starts, what runs finishes and is recorded, the
command exits 128 + signal and the lock is free. The second: the process
stops at once, the lock is free, and the next apply finishes the job. Plain
resources through the testing provider here (each apply call held on a file
until the test lets it go); rollouts on the local provider in
test_rollout_interrupt_signal.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

CLI = [sys.executable, "-m", "mlform.engine.cli.main"]

PROJECT = """provider "testing" {}
""" + "".join(f'''
model "{n}" {{
  provider = provider.testing
  source   = "./m.onnx"
}}
''' for n in ("a", "b", "c"))


def _wait(cond: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _run(proj: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=proj, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _objects(proj: Path) -> dict[str, Any]:
    p = proj / ".mlform" / "testing-objects.json"
    found: dict[str, Any] = json.loads(p.read_text()) if p.exists() else {}
    return found


def _recorded(proj: Path) -> list[str]:
    r = _run(proj, "state", "list")
    return [line for line in r.stdout.split() if line.startswith("model.")]


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "main.mlf.hcl").write_text(PROJECT)
    (tmp_path / "m.onnx").write_text("m")
    return tmp_path


def _held_apply(proj: Path) -> tuple[subprocess.Popen[str], Path, Path]:
    """An apply (one at a time) whose provider calls wait for the file ``go``; returns once one is in flight."""
    go, log = proj / "go", proj / "apply.log"
    with open(log, "w") as fh:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([*CLI, "apply", "--auto-approve", "--parallelism", "1"], cwd=proj,
                                stdout=fh, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, "MLFORM_TESTING_APPLY_WAIT_FOR": str(go)})
    _wait(lambda: "Creating" in log.read_text(), "the first create to start")
    time.sleep(0.3)  # inside the provider call, waiting on go
    return proc, go, log


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_first_signal_finishes_what_runs_and_starts_nothing(proj: Path, sig: signal.Signals) -> None:
    proc, go, log = _held_apply(proj)
    proc.send_signal(sig)
    time.sleep(0.5)
    assert proc.poll() is None, "the in-flight operation is waited for"
    go.write_text("")
    code = proc.wait(timeout=60)
    out = log.read_text()
    assert code == 128 + sig, out
    assert f"Interrupt received ({sig.name})" in out and "Stopping safely" in out, out
    assert "Apply interrupted. 1 added" in out, out
    assert out.count("not started: interrupted") == 2, out
    assert "Traceback" not in out and "internal error" not in out
    # the one that ran is recorded, the others were never started
    assert len(_recorded(proj)) == 1 and len(_objects(proj)) == 1
    # the lock is free, and the next apply does the rest
    r = _run(proj, "apply", "--auto-approve", "--lock-timeout", "0s")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 added" in r.stdout
    assert sorted(_recorded(proj)) == ["model.a", "model.b", "model.c"] and len(_objects(proj)) == 3


def test_second_signal_stops_at_once_and_the_next_apply_recovers(proj: Path) -> None:
    proc, go, log = _held_apply(proj)
    proc.send_signal(signal.SIGINT)
    _wait(lambda: "Stopping safely" in log.read_text(), "the first interrupt to be acknowledged")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=20)
    assert time.monotonic() - t0 < 10
    out = log.read_text()
    assert code == 130, out
    assert "Second interrupt: stopping now" in out and "Traceback" not in out, out
    assert _recorded(proj) == []  # the call in flight never finished
    # lock free; the next apply creates everything once (the interrupted call's intent was recorded)
    r = _run(proj, "apply", "--auto-approve", "--lock-timeout", "0s")
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(_recorded(proj)) == ["model.a", "model.b", "model.c"] and len(_objects(proj)) == 3
    r = _run(proj, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr
