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


def _start(project: Project, *args: str, wait_for: Path | None = None) -> subprocess.Popen[str]:
    exe = Path(sys.executable).parent / "mlform"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "mlform.engine.cli.main"]
    env = dict(os.environ, NO_COLOR="1")
    if wait_for is not None:
        env["MLFORM_TESTING_APPLY_WAIT_FOR"] = str(wait_for)
    env.pop("MLFORM_DEBUG", None)
    return subprocess.Popen([*cmd, "--chdir", str(project.path), *args], cwd=project.path, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_second_apply_waits_for_the_lock_then_fails_with_the_holders_details(tmp_project: Project) -> None:
    project = tmp_project
    project.write("main.mlf.hcl", PROJECT)
    project.write("m.onnx", "m")
    backend = LocalBackend(project.path / "mlform.state.json")

    # The holder's provider calls wait for a file this test writes only once
    # the impatient apply has given up, so the holder keeps the lock for as
    # long as that takes, however slowly the others start on a busy machine.
    release = project.path / "release-holder"
    holder = _start(project, "apply", "--auto-approve", "--parallelism", "1", wait_for=release)
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
    assert holder.poll() is None  # still holding the lock; now let it finish
    release.write_text("go")

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
