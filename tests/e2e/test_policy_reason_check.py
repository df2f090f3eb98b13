"""--override-policy NAME --reason "...": the reason in plan text, plan JSON and history;
mlform policy check [PLANFILE] [--json]; an override given to apply of a saved plan."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = %d
}

policy "replicas_cap" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= 2
  message     = "more than 2 replicas needs a capacity review"
}

policy "model_has_version" {
  applies_to = "model"
  condition  = change.after.version != null
  message    = "label every model with a version"
}
'''

ANA = {"LOGNAME": "ana", "USER": "ana"}
BEN = {"LOGNAME": "ben", "USER": "ben"}
REASON = "capacity review CAP-12 approved"


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT % 4)
    tmp_project.write("m.onnx", "m")
    return tmp_project


def _override(project: Project) -> dict[str, Any]:
    rec = project.state()["history"][-1]
    (o,) = rec["policy_overrides"]
    return o  # type: ignore[no-any-return]


def test_the_reason_is_shown_in_the_plan_and_recorded_with_who_and_when(project: Project) -> None:
    r = project.run("apply", "--auto-approve", "--override-policy", "replicas_cap", "--reason", REASON, env=ANA)
    assert r.exit_code == 0, r
    assert f"FAIL replicas_cap (endpoint.e) [soft_mandatory] [overridden: {REASON}]" in r.stdout
    o = _override(project)
    assert o["reason"] == REASON and o["who"].startswith("ana@") and o["when"]


def test_a_saved_plans_reason_reaches_plan_json_and_the_history_of_whoever_applies_it(project: Project) -> None:
    r = project.run("plan", "--override-policy", "replicas_cap", "--reason", REASON, "--out", "p.plan", env=ANA)
    assert r.exit_code == 0, r
    doc = json.loads(project.run("show", "--json", "p.plan").stdout)
    (res,) = [x for x in doc["policy_results"] if x["policy"] == "replicas_cap"]
    assert (res["passed"], res["overridden"], res["override_reason"]) == (False, True, REASON)
    assert project.run("apply", "p.plan", env=BEN).exit_code == 0
    o = _override(project)
    assert o["reason"] == REASON and o["who"].startswith("ben@")


def test_a_plan_refused_at_review_can_be_let_through_at_apply_with_a_reason(project: Project) -> None:
    assert project.run("plan", "--out", "p.plan").exit_code == 3
    r = project.run("apply", "p.plan", env=BEN)
    assert r.exit_code == 3 and "Apply refused by policy." in r.stdout, r
    r = project.run("apply", "p.plan", "--override-policy", "replicas_cap", "--reason", REASON, env=BEN)
    assert r.exit_code == 0, r
    o = _override(project)
    assert (o["policy"], o["addresses"], o["reason"]) == ("replicas_cap", ["endpoint.e"], REASON)
    assert o["who"].startswith("ben@")


def test_an_override_without_a_reason_records_none(project: Project) -> None:
    assert project.run("apply", "--auto-approve", "--override-policy", "replicas_cap").exit_code == 0
    assert _override(project)["reason"] is None


@pytest.mark.parametrize("args, summary", [
    (["plan", "--reason", "because"], "--reason needs --override-policy"),
    (["policy", "check", "--reason", "because"], "--reason needs --override-policy"),
    (["plan", "--override-policy", "replicas_cap", "--reason", " "], "Empty --reason"),
])
def test_a_reason_without_an_override_or_an_empty_one_is_an_error(project: Project, args: list[str],
                                                                  summary: str) -> None:
    r = project.run(*args)
    assert r.exit_code == 1, r
    assert [d.summary for d in parse_diagnostics(r.stderr)] == [summary]
    assert not (project.path / "mlform.state.json").exists()


def test_policy_check_json_lists_every_result_and_whether_the_plan_may_be_applied(project: Project) -> None:
    assert project.run("plan", "--out", "p.plan").exit_code == 3
    r = project.run("policy", "check", "p.plan", "--json")
    assert r.exit_code == 3, r
    doc = json.loads(r.stdout)
    assert doc["allowed"] is False
    assert doc["counts"] == {"passed": 0, "failed": 1, "overridden": 0, "warned": 1}
    got = {(x["policy"], x["address"], x["passed"]) for x in doc["policy_results"]}
    assert got == {("replicas_cap", "endpoint.e", False), ("model_has_version", "model.m", False)}

    r = project.run("policy", "check", "p.plan", "--json", "--override-policy", "replicas_cap", "--reason", REASON)
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["allowed"] is True and doc["counts"]["overridden"] == 1
    (cap,) = [x for x in doc["policy_results"] if x["policy"] == "replicas_cap"]
    assert cap["override_reason"] == REASON

    project.write("main.mlf.hcl", PROJECT % 2)  # a fresh plan, no file: the cap passes
    r = project.run("policy", "check", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["allowed"] is True and doc["counts"]["passed"] == 1


def test_policy_results_cover_every_change_a_policy_applies_to(tmp_project: Project) -> None:
    counted = (PROJECT % 1).replace('model "m" {', 'model "m" {\n  count    = 3').replace(
        "model    = model.m\n", "model    = model.m[0]\n")
    tmp_project.write("main.mlf.hcl", counted)
    tmp_project.write("m.onnx", "m")
    r = tmp_project.run("plan", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    per_change = {(x["policy"], x["address"]) for x in doc["policy_results"]}
    assert per_change == {("model_has_version", f"model.m[{i}]") for i in range(3)} | {("replicas_cap", "endpoint.e")}
    text = tmp_project.run("plan").stdout
    for i in range(3):
        assert f"warn model_has_version (model.m[{i}]) [advisory]" in text
    assert "pass replicas_cap (endpoint.e) [soft_mandatory]" in text


def test_a_policy_sees_change_after_as_null_for_a_destroyed_resource(project: Project) -> None:
    project.write("main.mlf.hcl", PROJECT[:PROJECT.index('policy "replicas_cap"')] % 1 + '''
policy "gone_means_null" {
  enforcement = "hard_mandatory"
  applies_to  = "model"
  condition   = contains(change.actions, "delete") ? change.after == null : true
  message     = "a destroyed model has no after"
}
''')
    assert project.run("apply", "--auto-approve").exit_code == 0
    r = project.run("plan", "--destroy")
    assert r.exit_code == 0, r
    assert "pass gone_means_null (model.m) [hard_mandatory]" in r.stdout
