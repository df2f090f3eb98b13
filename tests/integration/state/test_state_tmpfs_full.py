"""A real full disk during `mlform apply`: a small tmpfs filled while the apply runs.

The fixture mounts a 1 MiB tmpfs (``mount -t tmpfs -o size=1m``); where the
test process may not mount (not root, no CAP_SYS_ADMIN, a container without
it) the tests are skipped with that reason. The disk is filled from inside
the apply, right after the testing provider has stored an object, so the
engine's next writes (journal record, final state write) hit ENOSPC for
real; tests/unit/state/test_state_disk_full.py injects the same failures
at each system call.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

ERRORED = "errored.mlform.state.json"


def _endpoints(names: str) -> str:
    out = 'provider "testing" {}\n\nmodel "m" {\n  provider = provider.testing\n  source   = "./m.onnx"\n}\n'
    prev = None
    for n in names:
        port = f"endpoint.{prev}.port + 1" if prev else "9001"
        out += f'\nendpoint "{n}" {{\n  provider = provider.testing\n  model    = model.m\n  port     = {port}\n}}\n'
        prev = n
    return out


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (or CAP_SYS_ADMIN); covered by the unit tests")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip() or r.returncode}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(where: Path) -> None:
    """Write until the filesystem says ENOSPC."""
    with open(where / "filler", "ab", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    # The last page of a file may still take a few bytes: use them up too.
    for i in range(64):
        try:
            (where / f"filler-{i}").write_bytes(b"x")
        except OSError:
            break


def _free(where: Path) -> None:
    for p in where.glob("filler*"):
        p.unlink()


def _fill_after(address: str, where: Path) -> None:
    def hook(req: Any, default: Any) -> Any:
        resp = default(req)  # the provider stored the object
        if req.address == address:
            _fill(where)
        return resp
    TestProvider.hooks["apply_change"] = hook


def _objects(project: Project) -> dict[str, Any]:
    p = project.path / ".mlform" / "testing-objects.json"
    return {o["address"]: o["attributes"] for o in json.loads(p.read_text()).values()}


def _objects_by_address(project: Project) -> list[str]:
    p = project.path / ".mlform" / "testing-objects.json"
    return sorted(o["address"] for o in json.loads(p.read_text()).values())


def _recorded(doc: dict[str, Any]) -> dict[str, Any]:
    return {r["address"]: r["attributes"] for r in doc["resources"]}


def _check_clean(r: Any) -> None:
    assert "Traceback" not in r.output and "This is a bug in mlform" not in r.output, r


def test_a_disk_that_fills_during_apply_leaves_the_previous_state_and_the_next_apply_recovers(
        tmp_path: Path, tmpfs: Path) -> None:
    project = Project(tmpfs / "project")
    project.path.mkdir()
    project.write("m.onnx", "weights")
    project.write("main.mlf.hcl", _endpoints("ab"))
    assert project.run("apply", "--auto-approve").exit_code == 0
    before = (project.path / "mlform.state.json").read_bytes()

    project.write("main.mlf.hcl", _endpoints("abcde"))
    _fill_after("endpoint.c", tmpfs)
    try:
        r = project.run("apply", "--auto-approve")
    finally:
        TestProvider.hooks.clear()

    assert r.exit_code == 1, r
    _check_clean(r)
    diags = [d for d in parse_diagnostics(r.output) if d.severity == "Error"]
    # endpoint.d's own failure first (the provider hit the full disk too), then the state's.
    assert [d.summary for d in diags] == ["Provider error while applying endpoint.d",
                                          "Failed to persist the state: no space left on device"], r.output
    assert "is intact" in diags[1].detail and "Free some space" in diags[1].detail
    assert (project.path / "mlform.state.json").read_bytes() == before
    assert not list(project.path.glob(".mlform.state.json.*.tmp"))
    assert "endpoint.d" not in _objects(project)  # nothing started once the disk was full

    _free(tmpfs)
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    state = json.loads((project.path / "mlform.state.json").read_text())
    # endpoint.c was adopted (its intent was on disk), not created twice.
    assert _objects_by_address(project) == sorted(_recorded(state)) == [
        "endpoint.a", "endpoint.b", "endpoint.c", "endpoint.d", "endpoint.e", "model.m"]
    assert _recorded(state) == _objects(project)
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_full_state_disk_writes_the_errored_file_to_the_project_and_push_restores_it(
        tmp_project: Project, tmpfs: Path) -> None:
    # The state lives on the small disk; the project on a roomy one.
    tmp_project.write("m.onnx", "weights")
    backend = f'\nmlform {{\n  backend "local" {{\n    path = "{tmpfs}/mlform.state.json"\n  }}\n}}\n'
    tmp_project.write("main.mlf.hcl", _endpoints("ab") + backend)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    before = (tmpfs / "mlform.state.json").read_bytes()

    tmp_project.write("main.mlf.hcl", _endpoints("abc") + backend)
    _fill_after("endpoint.c", tmpfs)
    r = tmp_project.run("apply", "--auto-approve")

    assert r.exit_code == 1, r
    _check_clean(r)
    diags = [d for d in parse_diagnostics(r.output) if d.severity == "Error"]
    assert diags[0].summary == "Failed to persist the state: no space left on device", r.output
    assert "mlform state push errored.mlform.state.json" in diags[0].detail
    assert (tmpfs / "mlform.state.json").read_bytes() == before
    errored = json.loads((tmp_project.path / ERRORED).read_text())
    assert _recorded(errored) == _objects(tmp_project)
    assert "endpoint.c" in _recorded(errored)

    _free(tmpfs)
    r = tmp_project.run("state", "push", ERRORED)
    assert r.exit_code == 0, r
    assert _recorded(json.loads((tmpfs / "mlform.state.json").read_text())) == _recorded(errored)
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0
