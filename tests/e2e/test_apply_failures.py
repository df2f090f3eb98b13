"""apply when the provider fails at each step (testing provider hooks, in-process).

The hooks are class-level on ``TestProvider``, so these tests run the CLI
in this process (``Project.run``); ``tmp_project`` clears them afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlform.engine.providers.protocol import ApplyChangeResponse, ReadResponse
from mlform.engine.values import UNKNOWN
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "good" {
  provider = provider.testing
  source   = "./good.onnx"
}

model "bad" {
  provider = provider.testing
  source   = "./bad.onnx"
}

endpoint "on_good" {
  provider = provider.testing
  model    = model.good
  replicas = %(replicas)d
}

endpoint "on_bad" {
  provider = provider.testing
  model    = model.bad
  replicas = 1
}

endpoint "after_on_bad" {
  provider = provider.testing
  model    = model.good
  replicas = endpoint.on_bad.replicas
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT % {"replicas": 1})
    tmp_project.write("good.onnx", "good")
    tmp_project.write("bad.onnx", "bad")
    return tmp_project


def _objects(project: Project) -> dict[str, Any]:
    p = project.path / ".mlform" / "testing-objects.json"
    return json.loads(p.read_text()) if p.exists() else {}


def _recorded(project: Project) -> dict[str, dict[str, Any]]:
    return {r["address"]: r for r in project.state()["resources"]}


def _fail_for(address: str, action: str | None = None) -> Any:
    def hook(req: Any, default: Any) -> Any:
        if req.address == address and (action is None or req.action == action):
            resp = ApplyChangeResponse(new_state=None)
            resp.diagnostics.error("Quota exceeded", f"No capacity left for {req.address}.")
            return resp
        return default(req)
    return hook


def test_a_failed_create_skips_its_dependants_once_and_applies_the_rest(project: Project) -> None:
    TestProvider.hooks["apply_change"] = _fail_for("model.bad")
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert d.summary == "Quota exceeded"
    assert d.location == "main.mlf.hcl:8:1"
    # Everything downstream of the failure is skipped, and said so once each.
    assert r.stdout.count("endpoint.on_bad: skipped because model.bad failed") == 1
    assert r.stdout.count("endpoint.after_on_bad: skipped because model.bad failed") == 1
    assert "Apply failed. 2 added, 0 changed, 0 destroyed before the failure" in r.stdout
    # The independent branch was applied and recorded.
    recorded = _recorded(project)
    assert set(recorded) == {"model.good", "endpoint.on_good"}
    assert {o["address"] for o in _objects(project).values()} == {"model.good", "endpoint.on_good"}
    assert project.state().get("pending_operations", []) == []

    TestProvider.hooks.clear()
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "Resources: 3 added, 0 changed, 0 destroyed." in r.stdout
    assert project.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_read_that_says_gone_plans_a_new_object(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    old_id = _recorded(project)["endpoint.on_good"]["attributes"]["id"]

    def gone(req: Any, default: Any) -> Any:
        return ReadResponse(state=None) if req.address == "endpoint.on_good" else default(req)

    TestProvider.hooks["read"] = gone
    r = project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r
    assert "# endpoint.on_good has been deleted" in r.stdout
    assert "# endpoint.on_good will be created" in r.stdout
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in r.stdout

    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    new_id = _recorded(project)["endpoint.on_good"]["attributes"]["id"]
    assert new_id != old_id


def test_an_update_that_times_out_keeps_the_old_object_in_state(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    before = _recorded(project)["endpoint.on_good"]
    project.write("main.mlf.hcl", PROJECT % {"replicas": 3})

    def timeout(req: Any, default: Any) -> Any:
        if req.address == "endpoint.on_good" and req.action == "update":
            raise TimeoutError("the provider did not answer within 30s")
        return default(req)

    TestProvider.hooks["apply_change"] = timeout
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert "Traceback" not in r.output
    (d,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert d.summary == "Provider error while applying endpoint.on_good"
    assert "TimeoutError: the provider did not answer within 30s" in d.detail
    after = _recorded(project)["endpoint.on_good"]
    assert after["attributes"] == before["attributes"]
    assert after["attributes"]["replicas"] == 1

    TestProvider.hooks.clear()
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "Resources: 0 added, 1 changed, 0 destroyed." in r.stdout
    assert _recorded(project)["endpoint.on_good"]["attributes"]["replicas"] == 3


def test_a_provider_that_returns_unknown_values_after_apply_is_an_error(project: Project) -> None:
    def leaves_unknown(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "endpoint.on_good":
            resp.new_state = dict(resp.new_state, url=UNKNOWN)
        return resp

    TestProvider.hooks["apply_change"] = leaves_unknown
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert d.summary == 'Provider returned an unknown value for "url" after apply'
    assert d.location == "main.mlf.hcl:13:1"
    assert 'provider "provider.testing"' in d.detail and "this is a bug in the provider" in d.detail
    rec = _recorded(project)["endpoint.on_good"]
    assert "url" not in rec["attributes"]
    assert rec["status"] == "tainted"
    assert "UNKNOWN" not in project.read("mlform.state.json")

    TestProvider.hooks.clear()
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    rec = _recorded(project)["endpoint.on_good"]
    assert rec["status"] == "ready" and rec["attributes"]["url"].startswith("http://127.0.0.1")
