"""Plan JSON read back for `mlform policy test` (engine/policy/planjson.py): the policies give
the same results on a plan's JSON as on the plan itself, for create, update, replace and destroy
plans, unknown values and estimates included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlform.engine.config.decode import load_config
from mlform.engine.diagnostics import Diagnostics
from mlform.engine.load.jsonpos import parse
from mlform.engine.plan.json_view import plan_json
from mlform.engine.plan.planfile import read_plan
from mlform.engine.policy.evaluate import evaluate_policies
from mlform.engine.policy.planjson import plan_from_json
from mlform.engine.values import UNKNOWN
from tests.fixtures.project import Project

PROJECT = '''provider "testing" {}

variable "replicas" {
  type    = number
  default = 1
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
  metadata = { owner = "nlp" }
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = var.replicas
}
'''
POLICIES = '''
policy "few_replicas" {
  enforcement = "soft_mandatory"
  applies_to  = "endpoint"
  condition   = change.actions == ["delete"] ? true : change.after.replicas <= 2
}

policy "no_deletes" {
  enforcement = "hard_mandatory"
  condition   = length([for rc in plan.resource_changes : rc if contains(rc.actions, "delete")]) == 0
}

policy "owner_kept" {
  applies_to = "model"
  condition  = change.before == null || change.after == null ? true : change.after.metadata.owner == change.before.metadata.owner
}

policy "url_known_later" {
  applies_to = "endpoint"
  condition  = change.after == null ? true : change.after.url != "x"
}

policy "replicas_var" {
  condition = var.replicas < 5
}
'''


def _results(project: Project, *plan_args: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Any]:
    r = project.run("plan", "--out", "p.plan", *plan_args)
    assert r.exit_code in (0, 3), r
    cfg, d = load_config(project.path)
    assert cfg is not None and not d.has_errors, d
    plan, _ = read_plan(project.path / "p.plan")
    direct, _ = evaluate_policies(cfg, plan, [])
    doc = plan_json(plan, cfg)
    diags = Diagnostics()
    back = plan_from_json(parse(json.dumps(doc), "plan.json"), diags)
    assert back is not None and not diags.has_errors, list(diags)
    again, _ = evaluate_policies(cfg, back, [])

    def key(rs: list[Any]) -> list[tuple[Any, ...]]:
        return [(x.policy, x.address, x.passed, x.enforcement, x.message) for x in rs]
    return key(direct), key(again), back


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("m.onnx", "m")
    tmp_project.write("main.mlf.hcl", PROJECT + POLICIES)
    return tmp_project


def test_the_same_results_on_plan_json_as_on_the_plan(project: Project) -> None:
    direct, again, back = _results(project)  # create: the url is unknown until apply
    assert direct == again and len(direct) == 5
    (e,) = [c for c in back.changes if c.address == "endpoint.e"]
    assert e.after["url"] is UNKNOWN and e.action == "create"
    assert project.run("apply", "--auto-approve").exit_code == 0

    direct, again, _ = _results(project, "--var", "replicas=3")  # an update that a policy refuses
    assert direct == again
    assert ("few_replicas", "endpoint.e", False) in [x[:3] for x in again]

    direct, again, back = _results(project, "--replace", "endpoint.e")
    assert direct == again and [c.action for c in back.changes if c.address == "endpoint.e"] == ["replace"]
    assert ("no_deletes", None, False) in [x[:3] for x in again]

    direct, again, back = _results(project, "--destroy")
    assert direct == again and {c.action for c in back.changes} == {"delete"}
    assert back.variables == {"replicas": 1}


def test_a_hand_written_plan_needs_only_what_policies_read(tmp_path: Path) -> None:
    doc = {"resource_changes": [
        {"address": "endpoint.gpu[0]", "change": {"actions": ["create", "delete"], "before": {"replicas": 1},
                                                   "after": {"replicas": 2, "url": None},
                                                   "after_unknown": {"url": True}}}],
        "estimates": {"endpoint.gpu[0]": {"cost_per_hour": 6.06}}, "plan_mode": "normal"}
    d = Diagnostics()
    plan = plan_from_json(parse(json.dumps(doc), "p.json"), d)
    assert plan is not None and not d.has_errors
    (c,) = plan.changes
    assert (c.kind, c.name, c.action, c.create_before_destroy) == ("endpoint", "gpu", "replace", True)
    assert c.after == {"replicas": 2, "url": UNKNOWN} and c.estimates == {"cost_per_hour": 6.06}
