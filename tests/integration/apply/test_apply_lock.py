"""Two real ``mlform apply`` processes on one project: exactly one proceeds at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mlform.engine.state import LocalBackend
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = 3
  provider = provider.testing
  model    = model.m
  replicas = 1
}
'''


def _start(project: Project, *args: str, delay: float = 0.0) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "mlform"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mlform.engine.cli.main"]
    env = dict(os.environ, NO_COLOR="1", MLFORM_TESTING_APPLY_DELAY=str(delay))
    env.pop("MLFORM_DEBUG", None)
    return subprocess.Popen([*cmd, "--chdir", str(project.path), *args], cwd=project.path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_apply_waits_for_the_lock_then_fails_with_the_holders_details(tmp_project: Project) -> None:
    project = tmp_project
    project.write("main.mlf.hcl", PROJECT)
    project.write("m.onnx", "m")
    backend = LocalBackend(project.path / "mlform.state.json")

    # The holder: four provider calls of 1 s each, one at a time (room for
    # the others to start on a busy machine while it holds the lock).
    holder = _start(project, "apply", "--auto-approve", "--parallelism", "1", delay=1.0)
    deadline = time.monotonic() + 60
    while backend.current_lock() is None or backend.current_lock().operation != "OperationTypeApply":
        assert holder.poll() is None, holder.communicate()
        assert time.monotonic() < deadline, "the first apply never took the lock"
        time.sleep(0.02)
    info = backend.current_lock()
    assert info is not None and info.pid == holder.pid

    # One waits 0.5 s and gives up; another waits long enough and then runs.
    impatient = _start(project, "apply", "--auto-approve", "--lock-timeout", "500ms")
    patient = _start(project, "apply", "--auto-approve", "--lock-timeout", "120s")
    out, err = impatient.communicate(timeout=120)
    assert impatient.returncode == 1, out + err
    assert "Traceback" not in err
    (d,) = [d for d in parse_diagnostics(err) if d.severity == "Error"]
    assert d.summary == "Error acquiring the state lock"
    assert f"ID:        {info.id}" in d.detail
    assert "Operation: OperationTypeApply" in d.detail
    assert f"PID:       {holder.pid}" in d.detail
    assert f"mlform force-unlock {info.id}" in d.detail

    out, err = holder.communicate(timeout=120)
    assert holder.returncode == 0, out + err
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in out
    out, err = patient.communicate(timeout=120)
    assert patient.returncode == 0, out + err
    assert "No changes." in out  # it planned against the holder's finished state

    state = backend.read()
    assert state is not None and len(state.resources) == 4 and not state.pending_operations
    objects = json.loads((project.path / ".mlform" / "testing-objects.json").read_text())
    assert sorted(o["address"] for o in objects.values()) == sorted(r.address for r in state.resources)
    assert backend.current_lock() is None
