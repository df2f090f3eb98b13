"""Secrets never reach unencrypted state: digests are stored, and plans still see no change."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mlform.engine.state.sensitive import MARKER, digest
from tests.fixtures.project import Project

SECRET = "tok-5e3cr3t-value"
PROJECT = '''provider "testing" {}

variable "api_token" {
  type      = string
  sensitive = true
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider    = provider.testing
  model       = model.m
  environment = { API_TOKEN = var.api_token, LOG_LEVEL = "info" }
}

output "token" {
  value     = var.api_token
  sensitive = true
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.write("m.onnx", "m")
    return tmp_project


def _state_files(project: Project) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in project.path.glob("mlform.state.json*") if p.is_file()}


def test_unencrypted_state_holds_a_digest_not_the_secret(project: Project) -> None:
    env = {"MLF_VAR_api_token": SECRET}
    r = project.run("apply", "--auto-approve", env=env)
    assert r.exit_code == 0, r
    assert SECRET not in r.output
    files = _state_files(project)
    assert files and all(SECRET.encode() not in data for data in files.values()), list(files)
    (e,) = [x for x in project.state()["resources"] if x["address"] == "endpoint.e"]
    assert e["sensitive_paths"]
    for path in e["sensitive_paths"]:  # each sensitive value is a digest marker
        v = e["attributes"]
        for step in path:
            v = v[step]
        assert set(v) == {MARKER}
    assert project.state()["outputs"]["token"]["value"] == {MARKER: digest(SECRET)}

    # Same secret: no changes, with and without a refresh (the provider reads the value back).
    assert project.run("plan", "--detailed-exitcode", env=env).exit_code == 0
    assert project.run("plan", "--detailed-exitcode", "--refresh=false", env=env).exit_code == 0

    # Another secret: an update whose values are not shown.
    r = project.run("plan", "--detailed-exitcode", env={"MLF_VAR_api_token": "tok-rotated"})
    assert r.exit_code == 2, r
    assert "# endpoint.e will be updated in-place" in r.stdout
    assert "tok-rotated" not in r.stdout and SECRET not in r.stdout
    r = project.run("apply", "--auto-approve", env={"MLF_VAR_api_token": "tok-rotated"})
    assert r.exit_code == 0, r
    assert all(b"tok-rotated" not in data and SECRET.encode() not in data
               for data in _state_files(project).values())
    assert project.run("plan", "--detailed-exitcode", env={"MLF_VAR_api_token": "tok-rotated"}).exit_code == 0


def test_a_killed_apply_leaves_no_secret_in_the_journal(project: Project) -> None:
    from mlform.engine.state import LocalBackend, StateManager
    from mlform.engine.state.model import ResourceState

    mgr = StateManager(LocalBackend(project.path / "mlform.state.json"))
    mgr.load()
    mgr.begin()
    mgr.record_put(ResourceState(address="endpoint.e", kind="endpoint", name="e", provider="provider.testing",
                                 attributes={"environment": {"API_TOKEN": SECRET}},
                                 sensitive_paths=[["environment", "API_TOKEN"]]))
    journal = Path(str(project.path / "mlform.state.json") + ".journal")
    assert journal.exists() and SECRET.encode() not in journal.read_bytes()
    mgr.commit()


def test_with_encryption_the_values_are_stored_sealed(project: Project) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    env = {"MLF_VAR_api_token": SECRET, "MLFORM_STATE_KEY": key}
    assert project.run("apply", "--auto-approve", env=env).exit_code == 0
    assert all(SECRET.encode() not in data for data in _state_files(project).values())
    r = project.run("state", "pull", env=env)
    assert r.exit_code == 0, r
    (e,) = [x for x in json.loads(r.stdout)["resources"] if x["address"] == "endpoint.e"]
    assert e["attributes"]["environment"]["API_TOKEN"] == SECRET  # sealed, so kept as it is
    assert project.run("plan", "--detailed-exitcode", env=env).exit_code == 0
