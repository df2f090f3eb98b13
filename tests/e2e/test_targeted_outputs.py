"""--target and outputs, as Terraform does it: an output is planned only when everything it
reads is in the targeted set; the others are neither errors nor changed in state.

``mlform eval SUITE`` plans the suite's target only, so it works on a project that was
never applied (the quickstart's outputs read an endpoint that does not exist yet).
"""

from __future__ import annotations

import re
import shutil

from tests.fixtures.project import REPO_ROOT, Project, parse_diagnostics

QUICKSTART = REPO_ROOT / "examples" / "quickstart"


def _quickstart(tmp_project: Project) -> Project:
    for name in ("main.mlf.hcl", "data", "models"):
        src = QUICKSTART / name
        if src.is_dir():
            shutil.copytree(src, tmp_project.path / name)
        else:
            shutil.copyfile(src, tmp_project.path / name)
    return tmp_project


def _planned(stdout: str) -> list[str]:
    return re.findall(r"^  # (\S+) will be ", stdout, flags=re.M)


def test_eval_on_a_quickstart_never_applied_prints_the_results(tmp_project: Project) -> None:
    project = _quickstart(tmp_project)
    r = project.run("eval")
    assert r.exit_code == 0, r
    assert parse_diagnostics(r.output) == []
    assert "eval_suite.golden" in r.stdout and "accuracy" in r.stdout and "pass" in r.stdout
    assert not (project.path / "mlform.state.json").exists(), "eval records nothing"


def test_plan_targeting_the_suite_plans_only_it_and_its_model(tmp_project: Project) -> None:
    project = _quickstart(tmp_project)
    r = project.run("plan", "--target", "eval_suite.golden")
    assert r.exit_code == 0, r
    assert parse_diagnostics(r.output) == []
    assert sorted(_planned(r.stdout)) == ["eval_suite.golden", "model.sentiment"]
    assert "Changes to Outputs" not in r.stdout
    assert "Plan: 2 to add, 0 to change, 0 to destroy." in r.stdout


PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "api" {
  provider = provider.testing
  model    = model.m
}

prompt "p" {
  template  = "%s {{ text }}"
  variables = ["text"]
}

output "url" {
  value = "%s${endpoint.api.url}"
}

output "prompt_version" {
  value = prompt.p.version
}
'''


def test_a_targeted_apply_leaves_the_other_outputs_as_recorded(tmp_project: Project) -> None:
    tmp_project.write("m.onnx", "m")
    tmp_project.write("main.mlf.hcl", PROJECT % ("Summarize:", ""))
    r = tmp_project.run("apply", "--auto-approve", "--target", "prompt.p")
    assert r.exit_code == 0, r
    assert parse_diagnostics(r.output) == []
    outputs = tmp_project.state()["outputs"]
    assert list(outputs) == ["prompt_version"], "url reads an endpoint not applied yet: not recorded"

    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    before = tmp_project.state()["outputs"]
    assert before["url"]["value"].startswith("http")

    # both outputs would change; only the targeted prompt's is planned and recorded
    tmp_project.write("main.mlf.hcl", PROJECT % ("Condense:", "at "))
    r = tmp_project.run("plan", "--target", "prompt.p")
    assert r.exit_code == 0, r
    assert "prompt_version" in r.stdout and " url " not in r.stdout
    r = tmp_project.run("apply", "--auto-approve", "--target", "prompt.p")
    assert r.exit_code == 0, r
    after = tmp_project.state()["outputs"]
    assert after["url"] == before["url"]
    assert after["prompt_version"]["value"] != before["prompt_version"]["value"]

    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    assert tmp_project.state()["outputs"]["url"]["value"] == "at " + before["url"]["value"]
