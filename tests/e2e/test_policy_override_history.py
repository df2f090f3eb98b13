"""--override-policy is recorded: the apply's history record in state names each overridden
soft-mandatory policy, the addresses it failed for, who applied and when."""

from __future__ import annotations

import datetime as dt
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
  enforcement = "advisory"
  applies_to  = "model"
  condition   = change.after.version != null
  message     = "label every model with a version"
}
'''

ENV = {"LOGNAME": "ana", "USER": "ana"}


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT % 4)
    tmp_project.write("m.onnx", "m")
    return tmp_project


def last_record(project: Project) -> dict[str, Any]:
    return project.state()["history"][-1]  # type: ignore[no-any-return]


def test_an_override_is_recorded_with_who_and_when(project: Project) -> None:
    r = project.run("apply", "--auto-approve", env=ENV)
    assert r.exit_code == 3, r
    assert "Apply refused by policy." in r.stdout

    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    r = project.run("apply", "--auto-approve", "--override-policy", "replicas_cap", env=ENV)
    assert r.exit_code == 0, r
    assert [d.severity for d in parse_diagnostics(r.output)] == ["Warning", "Warning"]
    rec = last_record(project)
    assert rec["who"].startswith("ana@")
    (o,) = rec["policy_overrides"]  # the advisory failure is a warning, not an override
    assert o["policy"] == "replicas_cap" and o["addresses"] == ["endpoint.e"]
    assert o["who"] == rec["who"]
    assert o["message"] == "more than 2 replicas needs a capacity review"
    when = dt.datetime.fromisoformat(o["when"].replace("Z", "+00:00"))
    assert before <= when <= dt.datetime.now(dt.timezone.utc)

    # an apply that overrides nothing records no override (a passing policy needs none)
    project.write("main.mlf.hcl", PROJECT % 2)
    r = project.run("apply", "--auto-approve", "--override-policy", "replicas_cap", env=ENV)
    assert r.exit_code == 0, r
    assert last_record(project)["policy_overrides"] == []


def test_an_override_in_a_saved_plan_is_recorded_when_it_is_applied(project: Project) -> None:
    r = project.run("plan", "--override-policy", "replicas_cap", "--out", "p.plan", env=ENV)
    assert r.exit_code == 0, r
    r = project.run("apply", "p.plan", env={"LOGNAME": "ben", "USER": "ben"})
    assert r.exit_code == 0, r
    rec = last_record(project)
    (o,) = rec["policy_overrides"]
    assert o["policy"] == "replicas_cap" and o["who"] == rec["who"] and rec["who"].startswith("ben@")


WHOLE_PLAN = '''
policy "frozen" {
  enforcement = "hard_mandatory"
  condition   = length(plan.resource_changes) == 0
  message     = "nothing may change this week"
}
'''


@pytest.mark.parametrize("saved", [False, True])
def test_policy_check_prints_each_refusal_once(project: Project, saved: bool) -> None:
    project.write("main.mlf.hcl", PROJECT % 4 + WHOLE_PLAN)
    args = ["policy", "check"]
    if saved:
        assert project.run("plan", "--out", "p.plan").exit_code == 3
        args.append("p.plan")
    r = project.run(*args)
    assert r.exit_code == 3, r
    assert r.output.count("Error:") == 2, r
    errors = sorted(x.summary for x in parse_diagnostics(r.output) if x.severity == "Error")
    assert errors == ['Policy "frozen" refused the plan', 'Policy "replicas_cap" refused the plan for endpoint.e']
    assert r.output.count("Warning:") == 1, r  # the advisory one
    assert "FAIL replicas_cap (endpoint.e) [soft_mandatory]" in r.stdout
    assert "FAIL frozen [hard_mandatory]" in r.stdout
    r = project.run_subprocess(*args)  # as a shell runs it
    assert r.exit_code == 3 and r.output.count("Error:") == 2, r
