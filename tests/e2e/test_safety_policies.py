"""Policy enforcement levels, including for a condition that cannot be evaluated (issue 22).

A policy that cannot be evaluated has not passed, and its level decides what that means:
advisory warns, soft_mandatory refuses unless overridden (then warns), hard_mandatory refuses.
Every instance is judged, not only the first, and a policy sees a provider's own attributes
(null when unset) on every instance of a counted resource.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = 2
  provider = provider.testing
  model    = model.m
}

policy "p" {
  enforcement = "%s"
  applies_to  = "endpoint"
  condition   = %s
  message     = "endpoints need a small autoscaling ceiling"
}
'''
BROKEN = "4 >= change.after.autoscaling.max_replicas"  # autoscaling is null: cannot be evaluated


def _plan(p: Project, level: str, condition: str, *args: str) -> tuple[int, list, list, dict]:  # type: ignore[type-arg]
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROJECT % (level, condition)})
    r = p.run("plan", "--out", "p.mlfplan", *args)
    diags = parse_diagnostics(r.stderr)
    errors = [d for d in diags if d.severity == "Error"]
    warnings = [d for d in diags if d.severity == "Warning"]
    shown = p.run("show", "--json", "p.mlfplan") if r.exit_code == 0 else None
    doc = json.loads(shown.stdout) if shown is not None else {}
    return r.exit_code, errors, warnings, doc


@pytest.mark.parametrize("level, args, exit_code, severity", [
    ("advisory", (), 0, "Warning"),
    ("soft_mandatory", (), 3, "Error"),
    ("soft_mandatory", ("--override-policy", "p", "--reason", "load test"), 0, "Warning"),
    ("hard_mandatory", (), 3, "Error"),
    ("hard_mandatory", ("--override-policy", "p", "--reason", "load test"), 3, "Error"),
])
def test_a_policy_that_cannot_be_evaluated_is_judged_by_its_level_on_every_instance(
        tmp_project: Project, level: str, args: tuple[str, ...], exit_code: int, severity: str) -> None:
    code, errors, warnings, doc = _plan(tmp_project, level, BROKEN, *args)
    assert code == exit_code
    got = errors if severity == "Error" else warnings
    assert not (warnings if severity == "Error" else errors)
    assert [d.summary for d in got] == [
        f'Policy "p" could not be evaluated for endpoint.e[{i}]: Attempt to get attribute from null value'
        for i in (0, 1)]
    # at the part that failed, not at the start of the condition (17:17)
    assert all(d.location == "main.mlf.hcl:17:22" for d in got), [d.location for d in got]
    hint = {"soft_mandatory": 'Override it with --override-policy p --reason "WHY"',
            "hard_mandatory": "This policy is hard-mandatory."}.get(level)
    for d in got:
        if severity == "Error":
            assert hint is not None and hint in d.detail
        else:
            assert "Override it" not in d.detail and "hard-mandatory" not in d.detail
    if code == 0:
        results = [(x["address"], x["passed"]) for x in doc["policy_results"]]
        assert results == [("endpoint.e[0]", False), ("endpoint.e[1]", False)]


def test_a_policy_sees_the_provider_s_attributes_as_null_on_every_instance(tmp_project: Project) -> None:
    code, errors, warnings, doc = _plan(tmp_project, "hard_mandatory", "change.after.port == null")
    assert code == 0 and not errors and not warnings, (errors, warnings)
    assert [(x["address"], x["passed"]) for x in doc["policy_results"]] == [
        ("endpoint.e[0]", True), ("endpoint.e[1]", True)]


def test_a_failing_advisory_policy_warns_and_a_mandatory_one_refuses(tmp_project: Project) -> None:
    code, errors, warnings, _ = _plan(tmp_project, "advisory", "change.after.model.source == \"./other.onnx\"")
    assert code == 0 and not errors
    assert [d.summary for d in warnings] == ['Policy "p" failed for endpoint.e[0]', 'Policy "p" failed for endpoint.e[1]']
    code, errors, warnings, _ = _plan(tmp_project, "hard_mandatory", "change.after.model.source == \"./other.onnx\"")
    assert code == 3 and not warnings
    assert [d.summary for d in errors] == ['Policy "p" refused the plan for endpoint.e[0]',
                                           'Policy "p" refused the plan for endpoint.e[1]']
    assert all("endpoints need a small autoscaling ceiling" in d.detail for d in errors)
