"""mlform policy check --rego DIR: conftest-style Rego (deny / violation / warn) on plan JSON,
with the Rego engine of mlform[rego], merged with the HCL policies' results.

The policy set is examples/ci/policy (what the CI example runs): deny on delete, required
metadata keys (planned_values), a soft-mandatory cost ceiling (estimates), and rules over
configuration expressions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.project import REPO_ROOT, Project, parse_diagnostics

POLICY = REPO_ROOT / "examples" / "ci" / "policy"
GOLDEN = REPO_ROOT / "tests" / "golden"

PROJECT = '''provider "testing" {}

variable "src" {
  type    = string
  default = "./m.onnx"
}

model "m" {
  provider = provider.testing
  source   = %s
  metadata = { owner = "nlp"%s }
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = %d
}

policy "two_replicas_at_most" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.actions == ["delete"] ? true : change.after.replicas <= 2
  message     = "more than 2 replicas needs a capacity review"
}
'''


def _write(project: Project, *, team: bool = True, replicas: int = 1, source: str = '"./m.onnx"') -> None:
    project.write("main.mlf.hcl", PROJECT % (source, ', team = "search"' if team else "", replicas))


@pytest.fixture
def project(tmp_project: Project) -> Project:
    _write(tmp_project)
    tmp_project.write("m.onnx", "m")
    return tmp_project


def _check(project: Project, *args: str, code: int) -> dict[str, Any]:
    r = project.run("policy", "check", "p.plan", "--rego", str(POLICY), "--json", *args)
    assert r.exit_code == code, r
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


def _failed(doc: dict[str, Any]) -> set[tuple[str, str | None, str]]:
    return {(x["policy"], x["address"], x["enforcement"]) for x in doc["policy_results"] if not x["passed"]}


def _plan(project: Project, *args: str) -> None:
    r = project.run("plan", "--out", "p.plan", *args)
    assert r.exit_code in (0, 3), r


def test_create_update_replace_destroy_give_the_expected_denies(project: Project) -> None:
    _plan(project)
    doc = _check(project, code=0)
    assert _failed(doc) == set() and doc["allowed"] is True
    rego = {x["policy"] for x in doc["policy_results"] if x["policy"].startswith("main.")}
    assert {"main.deny", "main.deny_metadata", "main.deny_model_reference"} <= rego  # passing rules listed
    assert project.run("apply", "p.plan").exit_code == 0

    _write(project, replicas=2)  # an update in place: nothing denies it
    _plan(project)
    assert _failed(_check(project, code=0)) == set()

    _plan(project, "--replace", "endpoint.e")  # a replacement destroys the old endpoint
    assert _failed(_check(project, code=3)) == {("main.deny", "endpoint.e", "hard_mandatory")}

    _plan(project, "--destroy")
    assert _failed(_check(project, code=3)) == {("main.deny", "endpoint.e", "hard_mandatory"),
                                                ("main.deny", "model.m", "hard_mandatory")}


def test_planned_values_and_configuration_expressions_are_what_the_rules_read(project: Project) -> None:
    _write(project, team=False, source="var.src")
    _plan(project)
    doc = _check(project, code=3)
    assert _failed(doc) == {("main.deny_metadata", "model.m", "hard_mandatory"),  # planned_values
                            ("main.warn", None, "advisory")}  # configuration ... expressions.source.references
    (warn,) = [x for x in doc["policy_results"] if x["policy"] == "main.warn"]
    assert warn["message"] == "model.m reads its source from var.src; check the value in the review"


def test_rego_and_hcl_results_merge_with_their_enforcement_levels(project: Project) -> None:
    _write(project, team=False, replicas=3)
    _plan(project)
    r = project.run("policy", "check", "p.plan", "--rego", str(POLICY))
    assert r.exit_code == 3, r
    assert "FAIL two_replicas_at_most (endpoint.e) [soft_mandatory]" in r.stdout
    assert "FAIL main.deny_metadata (model.m) [hard_mandatory]: model.m has no metadata.team" in r.stdout
    errors = {d.summary: d for d in parse_diagnostics(r.stderr) if d.severity == "Error"}
    rego_err = errors['Rego policy "main.deny_metadata" refused the plan for model.m']
    assert rego_err.location is not None and rego_err.location.endswith("metadata.rego:8:1")
    # the HCL soft-mandatory one can be overridden; the Rego hard-mandatory one cannot
    _write(project, replicas=3)
    _plan(project)
    doc = _check(project, "--override-policy", "two_replicas_at_most", "--reason", "load test", code=0)
    assert doc["counts"]["overridden"] == 1 and doc["allowed"] is True


def test_a_soft_mandatory_rego_result_is_overridden_by_its_policy_name() -> None:
    """The cost ceiling over estimates, on the golden GPU endpoint plan ($6.06/h)."""
    from mlform.engine.policy.rego import evaluate_rego, find_files

    files, d = find_files([POLICY], REPO_ROOT)
    assert not d.has_errors
    doc = json.loads((GOLDEN / "13-policy-soft-overridden" / "plan.json").read_text())
    results, _ = evaluate_rego(doc, files, ["main"], [])
    (cost,) = [r for r in results if r.policy == "cost_ceiling"]
    assert (cost.passed, cost.address, cost.enforcement, cost.overridden) == (
        False, "endpoint.gpu", "soft_mandatory", False)
    assert cost.message == "endpoint.gpu is estimated at $6.06/h, above the $5/h ceiling"
    results, _ = evaluate_rego(doc, files, ["main"], ["cost_ceiling"])
    assert [r.overridden for r in results if r.policy == "cost_ceiling"] == [True]
    cheap = json.loads((GOLDEN / "01-create" / "plan.json").read_text())  # $0.34/h
    results, _ = evaluate_rego(cheap, files, ["main"], [])
    assert not [r for r in results if r.policy == "cost_ceiling"]


OLD_STYLE = '''package main

deny[msg] {
  rc := input.resource_changes[_]
  rc.type == "endpoint"
  msg := sprintf("%s: endpoints are frozen", [rc.address])
}

violation[{"msg": "no models today", "details": {}}] {
  input.resource_changes[_].type == "model"
}
'''

NAMED = '''package mlform.review

import rego.v1

warn contains "reviewed by the ML platform team" if { true }
'''


def test_old_style_rules_and_named_namespaces(project: Project) -> None:
    project.write("rego/old.rego", OLD_STYLE)
    project.write("rego/review.rego", NAMED)
    project.write("rego/review_test.rego", "package mlform.review\n\ntest_x if { false }\n")  # left out
    _plan(project)
    r = project.run("policy", "check", "p.plan", "--rego", "rego", "--json")
    assert r.exit_code == 3, r
    assert {(x["policy"], x["message"]) for x in json.loads(r.stdout)["policy_results"] if not x["passed"]} == {
        ("main.deny", "endpoint.e: endpoints are frozen"), ("main.violation", "no models today")}
    r = project.run("policy", "check", "p.plan", "--rego", "rego", "--json", "--namespace", "mlform.review")
    assert r.exit_code == 0, r
    assert [(x["policy"], x["passed"]) for x in json.loads(r.stdout)["policy_results"]
            if x["policy"].startswith("mlform.")] == [("mlform.review.warn", False)]
    r = project.run("policy", "check", "p.plan", "--rego", "rego", "--json", "--all-namespaces")
    assert r.exit_code == 3, r
    assert {x["policy"] for x in json.loads(r.stdout)["policy_results"]} >= {"main.deny", "mlform.review.warn"}


def test_a_rego_syntax_error_is_a_diagnostic_at_its_line_and_json_stays_clean(project: Project) -> None:
    project.write("rego/bad.rego", "package main\n\ndeny[msg {\n  true\n}\n")
    _plan(project)
    r = project.run("policy", "check", "p.plan", "--rego", "rego", "--json")
    assert r.exit_code == 1, r
    assert r.stdout == ""
    (d,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert d.summary.startswith("Invalid Rego policy") and d.location == "rego/bad.rego:3:5"
    assert "Traceback" not in r.output


def test_without_the_rego_extra_the_command_names_it(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlform.engine import extras

    monkeypatch.setitem(extras.EXTRAS, "rego", ("regopy_is_not_installed",))
    _plan(project)
    r = project.run("policy", "check", "p.plan", "--rego", str(POLICY))
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)[-1:]
    assert d.summary == "Rego policies (--rego) needs the mlform[rego] extra"
    assert "pip install 'mlform[rego]'" in d.detail
