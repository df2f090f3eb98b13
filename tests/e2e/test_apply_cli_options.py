"""apply/force-unlock options that used to be ignored, and --chdir path resolution."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlform.engine.state import LocalBackend
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

variable "replicas" {
  type    = number
  default = 1
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = var.replicas
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.write("m.onnx", "m")
    return tmp_project


@pytest.mark.parametrize("extra, summary, named", [
    (("--var", "replicas=3"), "Can't set variables when applying a saved plan", "--var"),
    (("--var-file", "more.mlfvars.hcl"), "Can't set variables when applying a saved plan", "--var-file"),
    (("--target", "model.m"), "Can't change planning options when applying a saved plan", "--target"),
    (("--replace", "endpoint.e"), "Can't change planning options when applying a saved plan", "--replace"),
    (("--destroy",), "Can't change planning options when applying a saved plan", "--destroy"),
])
def test_apply_of_a_saved_plan_refuses_options_that_would_change_it(project: Project, extra: tuple[str, ...],
                                                                   summary: str, named: str) -> None:
    project.write("more.mlfvars.hcl", "replicas = 3\n")
    assert project.run("plan", "--out", "p.plan").exit_code == 0
    r = project.run("apply", "p.plan", *extra)
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == summary
    assert named in d.detail and "mlform plan" in d.detail
    assert not (project.path / "mlform.state.json").exists(), "nothing was applied"


def test_a_stale_plan_against_no_state_says_so(project: Project) -> None:
    assert project.run("plan", "--out", "first.plan").exit_code == 0
    assert project.run("plan", "--out", "second.plan").exit_code == 0
    assert project.run("apply", "first.plan").exit_code == 0
    r = project.run("apply", "second.plan")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == "Saved plan is stale"
    assert "then there was no state, now the state is at serial 1" in d.detail
    assert "None" not in d.detail


def test_chdir_resolves_out_var_file_and_plan_file_in_the_project_directory(project: Project,
                                                                           tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    project.write("prod.mlfvars.hcl", "replicas = 2\n")
    cwd = os.getcwd()
    os.chdir(elsewhere)
    try:
        r = project.run("plan", "--var-file", "prod.mlfvars.hcl", "--out", "p.plan", chdir=False)
        assert r.exit_code == 0, r
        assert (project.path / "p.plan").exists() and not (elsewhere / "p.plan").exists()
        r = project.run("apply", "p.plan", chdir=False)
        assert r.exit_code == 0, r
        r = project.run("show", "p.plan", chdir=False)
        assert r.exit_code == 0, r
    finally:
        os.chdir(cwd)
    (e,) = [x for x in project.state()["resources"] if x["address"] == "endpoint.e"]
    assert e["attributes"]["replicas"] == 2


def _hold_lock(project: Project) -> tuple[subprocess.Popen[str], str]:
    """A real process that holds the state lock until killed."""
    code = ("import sys, time; from pathlib import Path\n"
            "from mlform.engine.state import LocalBackend, LockInfo\n"
            "b = LocalBackend(Path(sys.argv[1]))\n"
            "print(b.lock(LockInfo(operation='OperationTypeApply'), 0), flush=True)\n"
            "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(project.path / "mlform.state.json")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    with proc.stdout:  # the holder prints its lock id, then only sleeps
        return proc, proc.stdout.readline().strip()


def test_force_unlock_without_a_terminal_needs_force(project: Project) -> None:
    holder, lock_id = _hold_lock(project)
    try:
        r = project.run("force-unlock", lock_id)
        assert r.exit_code == 1, r
        (d,) = parse_diagnostics(r.stderr)
        assert d.summary == "No terminal to confirm force-unlock"
        assert f"mlform force-unlock --force {lock_id}" in d.detail
        backend = LocalBackend(project.path / "mlform.state.json")
        info = backend.current_lock()
        assert info is not None and info.id == lock_id, "the lock is still held"

        r = project.run("force-unlock", "--force", lock_id)
        assert r.exit_code == 0, r
        assert f"successfully unlocked (lock {lock_id})" in r.stdout
        assert backend.current_lock() is None
        r = project.run("apply", "--auto-approve")
        assert r.exit_code == 0, r
    finally:
        holder.kill()
        holder.wait()


def test_force_unlock_with_a_wrong_id_names_the_holder(project: Project) -> None:
    holder, lock_id = _hold_lock(project)
    try:
        r = project.run("force-unlock", "--force", "not-the-id")
        assert r.exit_code == 1, r
        (d,) = parse_diagnostics(r.stderr)
        assert d.summary == "Error unlocking the state"
        assert lock_id in d.detail
    finally:
        holder.kill()
        holder.wait()
