"""examples/ci/policies: a shared policy set with its own fixtures, used by a copy of the
quickstart through policy_paths; its tests pass, the quickstart's plan passes its policies, and
the fixture plan it ships is still what mlform writes for the quickstart (so it cannot rot)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.fixtures.project import REPO_ROOT, Project

SET = REPO_ROOT / "examples" / "ci" / "policies"


def _quickstart(tmp_project: Project) -> str:
    for p in (REPO_ROOT / "examples" / "quickstart").iterdir():
        if p.name in ("data", "models", "main.mlf.hcl"):
            (shutil.copytree if p.is_dir() else shutil.copyfile)(p, tmp_project.path / p.name)
    rel = os.path.relpath(SET, tmp_project.path)
    main = tmp_project.read("main.mlf.hcl")
    tmp_project.write("main.mlf.hcl", f'mlform {{\n  policy_paths = ["{rel}"]\n}}\n\n' + main)
    return rel


def _changes(doc: dict[str, object]) -> list[tuple[str, list[str]]]:
    rcs = doc["resource_changes"]
    assert isinstance(rcs, list)
    return sorted((rc["address"], rc["change"]["actions"]) for rc in rcs)


def test_the_example_set_tests_pass_and_the_quickstart_meets_it(tmp_project: Project) -> None:
    rel = _quickstart(tmp_project)
    r = tmp_project.run("policy", "test")
    assert r.exit_code == 0, r
    fixture = os.path.normpath(os.path.join(rel, "tests", "serving.policytest.json"))
    assert r.stdout.splitlines()[0] == f"PASS {fixture}: the quickstart passes every policy"
    assert "5 cases: 5 passed, 0 failed." in r.stdout

    r = tmp_project.run("plan", "--out", "p.plan")
    assert r.exit_code == 0, r
    r = tmp_project.run("policy", "check", "p.plan", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert {x["policy"] for x in doc["policy_results"]} == {
        "models_have_an_owner", "endpoints_roll_out_gradually", "latency_budget"}
    assert doc["allowed"] is True and doc["counts"]["passed"] == 3

    # the shipped plan is the quickstart's first plan, as show --json writes it today
    r = tmp_project.run("show", "--json", "p.plan")
    assert r.exit_code == 0, r
    shipped = json.loads((SET / "tests" / "quickstart-create.json").read_text())
    fresh = json.loads(r.stdout)
    assert _changes(shipped) == _changes(fresh)
    assert shipped["format_version"] == fresh["format_version"]
    for rc_s, rc_f in zip(sorted(shipped["resource_changes"], key=lambda x: x["address"]),
                          sorted(fresh["resource_changes"], key=lambda x: x["address"])):
        assert sorted(rc_s["change"]["after"]) == sorted(rc_f["change"]["after"]), rc_s["address"]


def test_a_broken_fixture_expectation_fails_the_example(tmp_project: Project, tmp_path: Path) -> None:
    """The example's tests can fail: the same set with a case expecting the wrong outcome."""
    copy = tmp_path / "policies"
    shutil.copytree(SET, copy)
    fx = copy / "tests" / "serving.policytest.json"
    doc = json.loads(fx.read_text())
    doc["cases"][0]["expect"]["latency_budget"] = "fail"
    fx.write_text(json.dumps(doc))
    tmp_project.write("main.mlf.hcl", 'mlform {\n  policy_paths = ["../policies"]\n}\n')
    r = tmp_project.run("policy", "test")
    assert r.exit_code == 1, r
    lines = r.stdout.splitlines()
    assert lines[0] == "FAIL ../policies/tests/serving.policytest.json: the quickstart passes every policy"
    assert lines[1] == "    latency_budget (endpoint.sentiment) [advisory]: expected fail, got pass"
