"""mlform show --markdown PLANFILE: the pull-request comment (goldens for a dozen plans are in
tests/golden/*/plan.md); here what the goldens do not show."""

from __future__ import annotations

import json

from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = 4
}

policy "replicas_cap" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.replicas <= 2
  message     = "more than 2 replicas needs a capacity review"
}
'''


def test_markdown_needs_a_saved_plan(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", PROJECT)
    r = tmp_project.run("show", "--markdown")
    assert r.exit_code == 1, r
    assert [d.summary for d in parse_diagnostics(r.stderr)] == ["--markdown needs a saved plan"]


def test_an_override_and_its_reason_are_in_the_comment(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.write("m.onnx", "m")
    r = tmp_project.run("plan", "--out", "p.plan", "--override-policy", "replicas_cap", "--reason", "load test week")
    assert r.exit_code == 0, r
    md = tmp_project.run("show", "--markdown", "p.plan").stdout
    assert md.startswith("<!-- mlform-plan-comment -->\n")  # how CI finds the comment to update
    assert "| ⚠️ overridden | `replicas_cap` | `endpoint.e` | soft_mandatory | more than 2 replicas needs a " \
           "capacity review — override reason: load test week |" in md
    assert "<details><summary>Full plan</summary>" in md and md.rstrip().endswith("</details>")
    data = json.loads(tmp_project.run("show", "--markdown", "--json", "p.plan").stdout)
    assert data["status"] == "changes"
    assert [(p["policy"], p["result"], p["override_reason"]) for p in data["policy_results"]] == [
        ("replicas_cap", "overridden", "load test week")]
    r = tmp_project.run("plan", "--out", "p.plan")
    assert r.exit_code == 3
    assert "⛔ **Refused by policy**" in tmp_project.run("show", "--markdown", "p.plan").stdout
