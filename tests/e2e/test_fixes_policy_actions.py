"""Policies see a change's actions exactly as plan JSON shows them (review item 2).

A create-before-destroy replacement is ``["create", "delete"]`` in
``show --json``; a policy that allows only such zero-downtime replacements
must see the same list, not its own ``["delete", "create"]``.
"""

from __future__ import annotations

import json
from typing import Any

from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider      = provider.testing
  model         = model.m
  instance_type = "%s"
  lifecycle {
    create_before_destroy = %s
  }
}

policy "no_downtime" {
  enforcement = "hard_mandatory"
  applies_to  = "endpoint"
  condition   = change.actions != ["delete", "create"]
  message     = "replace endpoints with create_before_destroy"
}
'''


def _replace_on_instance_type(req: Any, default: Any) -> Any:
    resp = default(req)
    resp.requires_replace = [("instance_type",)]
    return resp


def _applied(tmp_project: Project, cbd: str) -> Project:
    tmp_project.write("m.onnx", "weights")
    tmp_project.write("main.mlf.hcl", CONFIG % ("small", cbd))
    TestProvider.hooks["plan_change"] = _replace_on_instance_type
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    tmp_project.write("main.mlf.hcl", CONFIG % ("large", cbd))
    return tmp_project


def test_a_create_before_destroy_replacement_passes_a_policy_on_its_plan_json_actions(tmp_project: Project) -> None:
    p = _applied(tmp_project, "true")
    r = p.run("plan", "--out", "p.mlfplan")
    assert r.exit_code == 0, r
    assert "refused" not in r.output
    shown = p.run("show", "--json", "p.mlfplan")
    doc = json.loads(shown.stdout)
    (rc,) = [c for c in doc["resource_changes"] if c["address"] == "endpoint.e"]
    assert rc["change"]["actions"] == ["create", "delete"]
    (res,) = [x for x in doc["policy_results"] if x["address"] == "endpoint.e"]
    assert res["passed"] is True


def test_a_destroy_first_replacement_is_refused_by_the_same_policy(tmp_project: Project) -> None:
    p = _applied(tmp_project, "false")
    r = p.run("plan")
    assert r.exit_code == 3, r
    assert 'Policy "no_downtime" refused the plan for endpoint.e' in r.output
