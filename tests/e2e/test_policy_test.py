"""mlform policy test: *.policytest.json fixtures run the project's policies on plan JSON (as
`mlform show --json` writes it) and compare with the outcomes they expect, as `conftest verify`
and `sentinel test` do (docs/policies.md#mlform-policy-test)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.project import REPO_ROOT, Project, parse_diagnostics

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

policy "replicas_advisory" {
  enforcement = "advisory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= 4
  message     = "more than 4 replicas"
}

policy "replicas_soft" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= 6
  message     = "more than 6 replicas needs a capacity review"
}

policy "replicas_hard" {
  enforcement = "hard_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= 8
  message     = "more than 8 replicas is never allowed"
}
'''
LEVELS = {"advisory": "replicas_advisory", "soft_mandatory": "replicas_soft", "hard_mandatory": "replicas_hard"}
# replicas that make the policies up to that level fail: the advisory one at 5, soft at 7, hard at 9
FAILING = {"advisory": 5, "soft_mandatory": 7, "hard_mandatory": 9}
MESSAGES = {"advisory": "more than 4 replicas", "soft_mandatory": "more than 6 replicas needs a capacity review",
            "hard_mandatory": "more than 8 replicas is never allowed"}


def _plan_json(project: Project, replicas: int, name: str) -> None:
    """A real plan JSON of the project with ``replicas``, written to ``plans/NAME``."""
    project.write("main.mlf.hcl", PROJECT % replicas)
    r = project.run("plan", "--out", "p.plan")
    assert r.exit_code in (0, 3), r
    r = project.run("show", "--json", "p.plan")
    assert r.exit_code == 0, r
    project.write(f"plans/{name}", r.stdout)


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("m.onnx", "m")
    for level, n in FAILING.items():
        _plan_json(tmp_project, n, f"{level}.json")
    _plan_json(tmp_project, 1, "small.json")
    return tmp_project


def _fixture(project: Project, name: str, cases: list[dict[str, Any]], **top: Any) -> None:
    project.write(name, json.dumps({**top, "cases": cases}, indent=2))


@pytest.mark.parametrize("level", list(LEVELS))
def test_a_passing_and_a_failing_fixture_for_each_enforcement_level(project: Project, level: str) -> None:
    policy = LEVELS[level]
    allowed = level == "advisory"  # an advisory failure only warns; the others refuse the plan
    _fixture(project, "levels.policytest.json", [
        {"name": f"{level} fails on the big plan", "plan": f"plans/{level}.json",
         "expect": {policy: "fail"}, "allowed": allowed},
        {"name": f"{level} passes on the small plan", "plan": "plans/small.json",
         "expect": {policy: {"endpoint.e": "pass"}}, "allowed": True},
    ])
    r = project.run("policy", "test")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[:2] == [f"PASS levels.policytest.json: {level} fails on the big plan",
                                         f"PASS levels.policytest.json: {level} passes on the small plan"]
    assert "2 cases: 2 passed, 0 failed." in r.stdout

    # the same plans with the wrong expectations: each case fails and says what differed
    _fixture(project, "levels.policytest.json", [
        {"name": "wrong about the big plan", "plan": f"plans/{level}.json", "expect": {policy: "pass"},
         "allowed": not allowed},
        {"name": "wrong about the small plan", "plan": "plans/small.json", "expect": {policy: "fail"}},
    ])
    r = project.run("policy", "test")
    assert r.exit_code == 1, r
    lines = r.stdout.splitlines()
    assert lines[0] == "FAIL levels.policytest.json: wrong about the big plan"
    assert lines[1] == f"    {policy} (endpoint.e) [{level}]: expected pass, got fail: {MESSAGES[level]}"
    want, got = ("refused", "allowed") if allowed else ("allowed", "refused")
    assert lines[2].startswith(f"    the plan: expected {want}, got {got}")
    assert lines[3] == "FAIL levels.policytest.json: wrong about the small plan"
    assert lines[4] == f"    {policy} (endpoint.e) [{level}]: expected fail, got pass"
    assert "2 cases: 0 passed, 2 failed." in r.stdout


def test_overrides_let_a_soft_mandatory_failure_through_but_not_a_hard_one(project: Project) -> None:
    _fixture(project, "overrides.policytest.json", [
        {"name": "soft overridden", "plan": "plans/soft_mandatory.json", "overrides": ["replicas_soft"],
         "expect": {"replicas_soft": "fail", "replicas_hard": "pass"}, "allowed": True},
        {"name": "hard not overridable", "plan": "plans/hard_mandatory.json",
         "overrides": ["replicas_soft", "replicas_hard"], "expect": {"replicas_hard": "fail"}, "allowed": False},
    ])
    r = project.run("policy", "test", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert (doc["passed"], doc["failed"]) == (2, 0)
    soft = doc["cases"][0]
    assert soft["allowed"] is True and soft["differences"] == []
    (res,) = [x for x in soft["policy_results"] if x["policy"] == "replicas_soft"]
    assert (res["passed"], res["overridden"], res["address"]) == (False, True, "endpoint.e")
    assert doc["cases"][1]["allowed"] is False


def test_inline_plans_variables_and_a_golden_plan(project: Project) -> None:
    """A hand-written plan JSON inline (a destroy), and a golden plan mlform wrote."""
    project.write("main.mlf.hcl", PROJECT % 1 + '''
variable "day" {
  type    = string
  default = "monday"
}

policy "no_deletes" {
  enforcement = "hard_mandatory"
  condition   = length([for rc in plan.resource_changes : rc if contains(rc.actions, "delete")]) == 0
}

policy "no_friday_changes" {
  condition = var.day != "friday"
}
''')
    destroy = {"resource_changes": [{"address": "endpoint.e", "change": {"actions": ["delete"],
                                                                           "before": {"replicas": 2}, "after": None}}]}
    golden = REPO_ROOT / "tests" / "golden" / "13-policy-soft-overridden" / "plan.json"
    _fixture(project, "mixed.policytest.json", [
        {"name": "a destroy is refused", "plan": destroy, "expect": {"no_deletes": "fail"}, "allowed": False},
        {"name": "on a friday", "plan": destroy, "variables": {"day": "friday"},
         # replicas_hard reads change.after, null for a delete: it cannot be evaluated, so it fails
         "expect": {"no_friday_changes": "fail", "replicas_hard": "fail"}},
        {"name": "the golden GPU plan", "plan": str(golden),
         "expect": {"no_deletes": "pass", "replicas_advisory": {"endpoint.gpu": "pass"}}, "allowed": True},
    ])
    r = project.run("policy", "test", "mixed.policytest.json")
    assert r.exit_code == 0, r
    assert "3 cases: 3 passed, 0 failed." in r.stdout


def test_rego_policies_are_tested_with_rego(project: Project) -> None:
    rego = REPO_ROOT / "examples" / "ci" / "policy"
    _fixture(project, "rego.policytest.json", [
        {"name": "deny on delete", "plan": {"resource_changes": [
            {"address": "model.m", "type": "model", "change": {"actions": ["delete"], "before": {"source": "x"},
                                                                "after": None}}]},
         "expect": {"main.deny": "fail"}, "allowed": False},
        {"name": "nothing to deny", "plan": {"resource_changes": []}, "expect": {"main.deny": "pass"}},
    ])
    r = project.run("policy", "test", "rego.policytest.json", "--rego", str(rego))
    assert r.exit_code == 0, r
    assert "2 cases: 2 passed, 0 failed." in r.stdout
    # without --rego the name is unknown: a diagnostic at the key, nothing run
    r = project.run("policy", "test", "rego.policytest.json")
    assert r.exit_code == 1, r
    ds = parse_diagnostics(r.stderr)
    assert [x.summary for x in ds] == ['No policy "main.deny"'] * 2
    d = ds[0]
    assert d.location is not None
    assert d.location.startswith("rego.policytest.json:") and "--rego DIR" in d.detail


def test_mistakes_in_fixtures_are_diagnostics_at_their_place(project: Project) -> None:
    project.write("bad.policytest.json", '''{
  "cases": [
    {"name": "typo", "plan": "plans/small.json", "expcet": {"replicas_soft": "pass"}},
    {"name": "missing plan", "plan": "plans/nope.json", "expect": {"replicas_sotf": "pass"}},
    {"name": "bad outcome", "plan": "plans/small.json", "expect": {"replicas_hard": "passes"}},
    {"name": "bad actions", "plan": {"resource_changes": [{"address": "endpoint.e", "change": {"actions": ["move"]}}]},
     "expect": {"replicas_hard": "pass"}}
  ]
}
''')
    r = project.run("policy", "test", "bad.policytest.json")
    assert r.exit_code == 1, r
    assert "Traceback" not in r.output and r.stdout == ""
    got = {(d.summary, d.location) for d in parse_diagnostics(r.stderr)}
    assert got == {
        ('Unexpected key "expcet" in a policy test case', "bad.policytest.json:3:50"),
        ('No expectations for "typo"', "bad.policytest.json:3:5"),
        ('Cannot read plan "plans/nope.json"', "bad.policytest.json:4:38"),
        ('No policy "replicas_sotf"', "bad.policytest.json:4:68"),
        ("Invalid expected outcome", "bad.policytest.json:5:85"),
        ("Invalid actions for endpoint.e", "bad.policytest.json:6:107"),
    }
    typo = [d for d in parse_diagnostics(r.stderr) if d.summary.startswith("Unexpected key")][0]
    assert 'Did you mean "expect"?' in typo.detail
    project.write("bad.policytest.json", '{"cases": [\n  {"name": }\n]}\n')
    r = project.run("policy", "test", "bad.policytest.json")
    assert r.exit_code == 1 and "Traceback" not in r.output, r
    assert [(d.summary, d.location) for d in parse_diagnostics(r.stderr)] == [
        ("Invalid JSON", "bad.policytest.json:2:12")]
    # a saved plan file is JSON too, but not plan JSON: refused, not read as a plan without changes
    _fixture(project, "bad.policytest.json", [{"plan": "p.plan", "expect": {"replicas_hard": "pass"}}])
    r = project.run("policy", "test", "bad.policytest.json")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert (d.summary, d.location) == ("Not plan JSON", "p.plan:1:1") and "show --json" in d.detail


def test_no_fixtures_is_an_error_saying_where_it_looked(project: Project) -> None:
    r = project.run("policy", "test")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == "No policy tests found" and "*.policytest.json" in d.detail

