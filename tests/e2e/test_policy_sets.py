"""Policy sets shared across projects (docs/policies.md#policy-sets): a policies/ folder beside
the configuration and mlform { policy_paths = [...] }; validate, plan, apply and policy check all
see them, diagnostics point into their files, and a saved plan goes stale when one changes."""

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
  replicas = 3
}
'''
SHARED = '''# the platform team's budget rules
policy "replicas_budget" {
  enforcement = "hard_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= %d
  message     = "at most %d replicas"
}
'''
LOCAL = '''policy "model_owner" {
  applies_to = "model"
  condition  = change.after.metadata != null
  message    = "models say who owns them"
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("m.onnx", "m")
    return tmp_project


def _with_paths(*paths: str) -> str:
    return "mlform {\n  policy_paths = [" + ", ".join(f'"{p}"' for p in paths) + "]\n}\n\n" + RESOURCES


def test_a_shared_set_from_policy_paths_is_enforced_by_every_command(project: Project) -> None:
    project.write("main.mlf.hcl", _with_paths("../shared-policies"))
    project.write("../shared-policies/budget.hcl", SHARED % (2, 2))
    assert project.run("validate").exit_code == 0
    r = project.run("plan")
    assert r.exit_code == 3, r
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == 'Policy "replicas_budget" refused the plan for endpoint.e'
    assert d.location == "../shared-policies/budget.hcl:5:17"  # the path as written in policy_paths
    assert d.source_line == "  condition   = change.after.replicas <= 2"
    r = project.run("policy", "check", "--json")
    assert r.exit_code == 3, r
    doc = json.loads(r.stdout)
    assert [(x["policy"], x["address"], x["passed"]) for x in doc["policy_results"]] == [
        ("replicas_budget", "endpoint.e", False)]
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 3 and "Apply refused by policy." in r.output, r
    project.write("../shared-policies/budget.hcl", SHARED % (4, 4))
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r


def test_the_policies_folder_and_policy_paths_together(project: Project) -> None:
    project.write("main.mlf.hcl", _with_paths("../shared-policies/budget.hcl"))  # a single file works too
    project.write("../shared-policies/budget.hcl", SHARED % (4, 4))
    project.write("policies/owner.hcl", LOCAL)
    project.write("policies/README.md", "not a policy file: left alone")
    r = project.run("policy", "check")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == ["Policy checks:",
                                     "  warn model_owner (model.m) [advisory]: models say who owns them",
                                     "  pass replicas_budget (endpoint.e) [hard_mandatory]"]
    (w,) = parse_diagnostics(r.stderr)
    assert (w.severity, w.location) == ("Warning", "policies/owner.hcl:3:16")


def test_a_changed_shared_policy_makes_a_saved_plan_stale(project: Project) -> None:
    project.write("main.mlf.hcl", _with_paths("../shared-policies"))
    project.write("../shared-policies/budget.hcl", SHARED % (4, 4))
    project.write("policies/owner.hcl", LOCAL)
    assert project.run("plan", "--out", "p.plan").exit_code == 0
    project.write("../shared-policies/budget.hcl", SHARED % (3, 3))
    r = project.run("apply", "p.plan")
    assert r.exit_code == 1, r
    assert [d.summary for d in parse_diagnostics(r.stderr) if d.severity == "Error"] == ["Saved plan is stale"]
    assert project.run("plan", "--out", "p.plan").exit_code == 0
    project.write("policies/owner.hcl", LOCAL.replace("models say", "every model says"))  # the local folder too
    assert project.run("apply", "p.plan").exit_code == 1
    assert project.run("plan", "--out", "p.plan").exit_code == 0
    project.write("policies/other.hcl", "# a new, empty policy file\n")  # a new file counts as a change
    assert project.run("apply", "p.plan").exit_code == 1
    assert project.run("plan", "--out", "p.plan").exit_code == 0
    r = project.run("apply", "p.plan")
    assert r.exit_code == 0, r


def test_a_policy_file_holds_only_policies(project: Project) -> None:
    project.write("main.mlf.hcl", _with_paths("../shared-policies"))
    project.write("../shared-policies/budget.hcl", SHARED % (4, 4) + '''
variable "limit" {
  default = 4
}

region = "eu"
''')
    r = project.run("validate")
    assert r.exit_code == 1 and "Traceback" not in r.output, r
    got = [(d.summary, d.location) for d in parse_diagnostics(r.stderr)]
    assert got == [("Only policies in a policy file", "../shared-policies/budget.hcl:13:1"),
                   ("Only policies in a policy file", "../shared-policies/budget.hcl:9:1")]
    details = " ".join(d.detail for d in parse_diagnostics(r.stderr))
    assert '"variable" block' in details and 'argument "region"' in details


def test_mistakes_in_policy_paths_and_policy_files_are_diagnostics(project: Project) -> None:
    project.write("main.mlf.hcl", _with_paths("../nowhere", "policies"))
    r = project.run("plan")
    assert r.exit_code == 1, r
    ds = parse_diagnostics(r.stderr)
    assert [(d.summary, d.location) for d in ds] == [('Policy path "../nowhere" not found', "main.mlf.hcl:2:19"),
                                                    ('Policy path "policies" not found', "main.mlf.hcl:2:33")]
    project.write("main.mlf.hcl", 'mlform {\n  policy_paths = "../shared"\n}\n' + RESOURCES)
    r = project.run("validate")
    assert [(d.summary, d.location) for d in parse_diagnostics(r.stderr)] == [
        ("Invalid policy_paths", "main.mlf.hcl:2:18")]
    project.write("main.mlf.hcl", RESOURCES)
    project.write("policies/broken.hcl", 'policy "x" {\n  condition = change.after.replicas <=\n}\n')
    r = project.run("validate")
    assert r.exit_code == 1 and "Traceback" not in r.output, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.location is not None and d.location.startswith("policies/broken.hcl:")
    project.write("policies/broken.hcl", LOCAL)
    project.write("main.mlf.hcl", RESOURCES + LOCAL)  # the same policy in the project and the set
    r = project.run("validate")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == "Duplicate policy declaration" and d.location == "policies/broken.hcl:1:1"
    assert "main.mlf.hcl:" in d.detail


def test_policy_test_runs_the_fixtures_of_the_shared_set(project: Project) -> None:
    """A shared set ships its own fixtures; `mlform policy test` in a project using it runs them."""
    project.write("main.mlf.hcl", _with_paths("../shared-policies"))
    project.write("../shared-policies/budget.hcl", SHARED % (2, 2))
    plan = {"resource_changes": [{"address": "endpoint.big", "type": "endpoint",
                                  "change": {"actions": ["create"], "before": None, "after": {"replicas": 3}}}]}
    project.write("../shared-policies/tests/budget.policytest.json", json.dumps({"plan": plan, "cases": [
        {"name": "three replicas are refused", "expect": {"replicas_budget": "fail"}, "allowed": False}]}))
    r = project.run("policy", "test")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0] == ("PASS ../shared-policies/tests/budget.policytest.json: "
                                        "three replicas are refused")
