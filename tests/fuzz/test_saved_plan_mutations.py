"""Saved plans whose digest was recomputed after an edit (what the fuzzer does to get past the
tamper check) are refused with a diagnostic, never an internal error: a body this mlform cannot
read (the fuzzer's TypeError in Plan.from_dict) and variables that are not a map (its ValueError
in load_variables)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fixtures.project import Project, parse_diagnostics
from tests.fuzz.harness import _reseal


@pytest.mark.parametrize("edit, summary", [
    (lambda doc: doc["plan"].update(v=1), "Failed to read saved plan"),
    (lambda doc: doc["plan"].update(variables=["env"]), "Saved plan is corrupt or was modified"),
], ids=["unknown-field", "variables-not-a-map"])
def test_resealed_plan_is_refused(tmp_project: Project, edit: Any, summary: str) -> None:
    tmp_project.write("main.mlf.hcl", 'variable "env" {\n  default = "dev"\n}\n\noutput "o" {\n  value = var.env\n}\n')
    assert tmp_project.run("plan", "--out", "saved.plan").exit_code == 0
    doc = json.loads(tmp_project.read("saved.plan"))
    edit(doc)
    tmp_project.write("saved.plan", json.dumps(_reseal(doc)))
    r = tmp_project.run("apply", "saved.plan")
    assert r.exit_code == 1, r
    assert "internal error" not in r.output and "Traceback" not in r.output, r
    assert [d.summary for d in parse_diagnostics(r.stderr)] == [summary], r
