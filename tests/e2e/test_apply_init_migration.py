"""`mlform init` when the backend block changes: refuse, migrate (-migrate-state / -force-copy), or reconfigure."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.project import Project, parse_diagnostics

RESOURCES = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = 1
}
'''
BACKEND = 'mlform {\n  backend "local" {\n    path = "%s"\n  }\n}\n'


@pytest.fixture
def applied(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", RESOURCES)
    tmp_project.write("m.onnx", "m")
    r = tmp_project.run("init")
    assert r.exit_code == 0, r
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    return tmp_project


def _summary(r: object) -> str:
    (d,) = parse_diagnostics(r.stderr)  # type: ignore[attr-defined]
    return d.summary


def test_a_changed_backend_is_migrated_with_force_copy(applied: Project) -> None:
    old = applied.state()
    applied.write("backend.mlf.hcl", BACKEND % "state/prod.json")

    # Other commands refuse to use the new, empty backend silently.
    r = applied.run("plan")
    assert r.exit_code == 1, r
    assert _summary(r) == "Backend configuration changed"
    assert "mlform init --migrate-state" in r.stderr
    # init says what to do; --migrate-state needs a terminal to ask.
    r = applied.run("init")
    assert r.exit_code == 1 and _summary(r) == "Backend configuration changed", r
    r = applied.run("init", "--migrate-state")
    assert r.exit_code == 1 and _summary(r) == "No terminal to confirm the state migration", r
    assert "--force-copy" in r.stderr
    assert not (applied.path / "state" / "prod.json").exists()

    r = applied.run("init", "--migrate-state", "--force-copy")
    assert r.exit_code == 0, r
    assert "Copied the state" in r.stdout
    new = json.loads(applied.read("state/prod.json"))
    assert new["lineage"] == old["lineage"] and new["serial"] >= old["serial"]
    assert [x["address"] for x in new["resources"]] == [x["address"] for x in old["resources"]]
    assert applied.state() == old, "the old copy is left as it was"

    r = applied.run("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r  # the new backend holds the state: nothing to do
    assert applied.run("apply", "--auto-approve").exit_code == 0
    assert json.loads(applied.read("state/prod.json"))["lineage"] == old["lineage"]


def test_reconfigure_uses_the_new_backend_as_it_is(applied: Project) -> None:
    applied.write("backend.mlf.hcl", BACKEND % "elsewhere.json")
    r = applied.run("init", "--reconfigure")
    assert r.exit_code == 0, r
    assert not (applied.path / "elsewhere.json").exists()
    r = applied.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in r.stdout


def test_a_project_never_initialized_is_migrated_from_the_default_file(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", RESOURCES)
    tmp_project.write("m.onnx", "m")
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    before = tmp_project.state()
    tmp_project.write("backend.mlf.hcl", BACKEND % "s.json")
    refused = tmp_project.run("plan")
    assert refused.exit_code == 1
    assert "mlform init" in refused.output  # the way out is named
    r = tmp_project.run("init", "--force-copy")
    assert r.exit_code == 0, r
    migrated = json.loads(tmp_project.read("s.json"))
    assert migrated["lineage"] == before["lineage"]
    assert [x["address"] for x in migrated["resources"]] == [x["address"] for x in before["resources"]]
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0
