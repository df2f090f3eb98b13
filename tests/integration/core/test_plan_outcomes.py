"""What ``mlform plan`` shows and refuses, as a user reads it (the planner, engine/plan/planner.py).

Through the CLI with the testing provider: a cycle and a failed refresh are diagnostics, never
a crash; ``--target`` plans a resource and what it depends on only; a dependency through a
local is recorded and ordered; recorded instances that left the configuration are deleted with
the reason shown; outputs are created, updated, deleted (and all deleted by ``--destroy``);
resource changes come sorted by address; suites to run are named with their reason.
"""

from __future__ import annotations

import json
from typing import Any

from mlform.engine.providers.protocol import ReadResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

BASE = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}
'''


def _setup(p: Project, body: str) -> None:
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": BASE + body})


def _plan_json(p: Project, *args: str) -> dict[str, Any]:
    r = p.run("plan", *args, "--out", "p.mlfplan")
    assert r.exit_code == 0, r
    shown = p.run("show", "--json", "p.mlfplan")
    assert shown.exit_code == 0, shown
    return json.loads(shown.stdout)  # type: ignore[no-any-return]


def _actions(plan: dict[str, Any]) -> dict[str, list[str]]:
    return {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]}


def _no_crash(r: Any) -> None:
    assert "Traceback" not in r.output and "bug in mlform" not in r.output, r


def test_a_cycle_is_a_diagnostic(tmp_project: Project) -> None:
    _setup(tmp_project, '''
endpoint "a" {
  provider    = provider.testing
  model       = model.m
  environment = { PEER = endpoint.b.url }
}

endpoint "b" {
  provider    = provider.testing
  model       = model.m
  environment = { PEER = endpoint.a.url }
}
''')
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    _no_crash(r)
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert "cycle" in d.summary.lower() and "endpoint.a" in d.detail and "endpoint.b" in d.detail, d


def test_a_refresh_that_fails_stops_the_plan_with_the_provider_s_error(tmp_project: Project) -> None:
    _setup(tmp_project, "")
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0

    def broken(req: Any, default: Any) -> ReadResponse:
        r = ReadResponse(state=None)
        r.diagnostics.error("Credentials expired", "Log in again.")
        return r

    TestProvider.hooks["read"] = broken
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    _no_crash(r)
    assert [x.summary for x in parse_diagnostics(r.stderr) if x.severity == "Error"] == ["Credentials expired"]
    assert "Plan:" not in r.stdout
    r = tmp_project.run("plan", "--refresh=false")  # without a refresh, nothing to do
    assert r.exit_code == 0, r
    assert "No changes" in r.stdout


TWO = '''
locals {
  upstream = endpoint.a.url
}

endpoint "a" {
  provider = provider.testing
  model    = model.m
}

endpoint "b" {
  provider    = provider.testing
  model       = model.m
  environment = { UPSTREAM = local.upstream }
}

output "a_url" {
  value = endpoint.a.url
}

output "b_url" {
  value = endpoint.b.url
}
'''


def test_target_plans_the_resource_and_what_it_depends_on_only(tmp_project: Project) -> None:
    _setup(tmp_project, TWO)
    plan = _plan_json(tmp_project, "--target", "endpoint.a")
    assert _actions(plan) == {"endpoint.a": ["create"], "model.m": ["create"]}
    assert set(plan["output_changes"]) == {"a_url"}  # b_url reads what is not planned: left alone
    r = tmp_project.run("apply", "--auto-approve", "--target", "endpoint.a")
    assert r.exit_code == 0, r
    assert {x["address"] for x in tmp_project.state()["resources"]} == {"model.m", "endpoint.a"}


def test_a_dependency_through_a_local_is_recorded(tmp_project: Project) -> None:
    _setup(tmp_project, TWO)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    deps = {x["address"]: x["dependencies"] for x in tmp_project.state()["resources"]}
    assert deps["endpoint.a"] == ["model.m"] and deps["endpoint.b"] == ["endpoint.a", "model.m"], deps
    r = tmp_project.run("destroy", "--auto-approve")  # b (which reads a through the local) goes first
    assert r.exit_code == 0, r
    assert r.stdout.index("endpoint.b: Destroying...") < r.stdout.index("endpoint.a: Destroying..."), r.stdout


def test_changes_are_sorted_by_address_and_outputs_created_then_unchanged(tmp_project: Project) -> None:
    _setup(tmp_project, TWO)
    plan = _plan_json(tmp_project)
    assert [c["address"] for c in plan["resource_changes"]] == ["endpoint.a", "endpoint.b", "model.m"]
    assert {k: v["actions"] for k, v in plan["output_changes"].items()} == {"a_url": ["create"], "b_url": ["create"]}
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    plan = _plan_json(tmp_project)
    assert {k: v["actions"] for k, v in plan["output_changes"].items()} == {"a_url": ["no-op"], "b_url": ["no-op"]}


def test_outputs_removed_or_changed_and_everything_deleted_by_destroy(tmp_project: Project) -> None:
    _setup(tmp_project, TWO)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    urls = {k: v["value"] for k, v in tmp_project.state()["outputs"].items()}
    tmp_project.write("main.mlf.hcl", BASE + TWO.replace('output "b_url" {\n  value = endpoint.b.url\n}\n', "")
                      .replace("value = endpoint.a.url", 'value = "${endpoint.a.url}/v2"'))
    plan = _plan_json(tmp_project)
    outs = plan["output_changes"]
    assert outs["b_url"]["actions"] == ["delete"] and outs["b_url"]["before"] == urls["b_url"]
    assert outs["a_url"]["actions"] == ["update"] and outs["a_url"]["after"] == urls["a_url"] + "/v2"
    r = tmp_project.run("plan")
    assert "Changes to Outputs:" in r.stdout and "- b_url" in r.stdout, r.stdout
    plan = _plan_json(tmp_project, "--destroy")
    assert {tuple(v) for v in _actions(plan).values()} == {("delete",)} and len(plan["resource_changes"]) == 3
    assert {k: v["actions"] for k, v in plan["output_changes"].items()} == {"a_url": ["delete"], "b_url": ["delete"]}


def test_instances_that_left_the_configuration_are_deleted_with_the_reason(tmp_project: Project) -> None:
    _setup(tmp_project, '''
endpoint "many" {
  count    = 3
  provider = provider.testing
  model    = model.m
}

endpoint "keyed" {
  for_each = { a = 1, b = 2 }
  provider = provider.testing
  model    = model.m
}

endpoint "gone" {
  provider = provider.testing
  model    = model.m
}
''')
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    tmp_project.write("main.mlf.hcl", BASE + '''
endpoint "many" {
  count    = 2
  provider = provider.testing
  model    = model.m
}

endpoint "keyed" {
  for_each = { a = 1 }
  provider = provider.testing
  model    = model.m
}
''')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# endpoint.many[2] will be destroyed\n  # (because index [2] is out of range for count)" in r.stdout
    assert '# endpoint.keyed["b"] will be destroyed\n  # (because key ["b"] is not in for_each map)' in r.stdout
    assert "# endpoint.gone will be destroyed\n  # (because it is no longer in the configuration)" in r.stdout
    assert "Plan: 0 to add, 0 to change, 3 to destroy." in r.stdout
    plan = _plan_json(tmp_project)
    reasons = {c["address"]: c.get("action_reason") for c in plan["resource_changes"] if c["change"]["actions"] == ["delete"]}
    assert reasons == {"endpoint.many[2]": "delete_because_count_index", 'endpoint.keyed["b"]': "delete_because_each_key",
                       "endpoint.gone": "delete_because_no_resource_config"}, reasons


def test_a_targeted_plan_deletes_only_a_targeted_orphan(tmp_project: Project) -> None:
    _setup(tmp_project, TWO + '\nendpoint "old" {\n  provider = provider.testing\n  model    = model.m\n}\n')
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    _setup(tmp_project, TWO)
    plan = _plan_json(tmp_project, "--target", "endpoint.a")
    assert _actions(plan) == {"endpoint.a": ["no-op"], "model.m": ["no-op"]}
    plan = _plan_json(tmp_project, "--target", "endpoint.old")
    assert _actions(plan) == {"endpoint.old": ["delete"]}


def test_prevent_destroy_refuses_removing_each_protected_resource(tmp_project: Project) -> None:
    _setup(tmp_project, '''
endpoint "keep" {
  provider = provider.testing
  model    = model.m
  lifecycle {
    prevent_destroy = true
  }
}

endpoint "also" {
  provider = provider.testing
  model    = model.m
  lifecycle {
    prevent_destroy = true
  }
}
''')
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    r = tmp_project.run("plan", "--destroy")
    assert r.exit_code == 1, r
    errs = sorted((x for x in parse_diagnostics(r.stderr) if x.severity == "Error"), key=lambda x: x.location or "")
    assert [(d.summary, d.location) for d in errs] == [("Instance cannot be destroyed", "main.mlf.hcl:16:1"),
                                                       ("Instance cannot be destroyed", "main.mlf.hcl:8:1")], errs
    assert "endpoint.keep has lifecycle.prevent_destroy set, but the plan would destroy it." in errs[1].detail
    assert "endpoint.also has lifecycle.prevent_destroy set" in errs[0].detail


def test_an_output_that_cannot_be_evaluated_is_an_error_at_the_output(tmp_project: Project) -> None:
    _setup(tmp_project, '''
variable "shards" {
  type    = number
  default = 0
}

output "per_shard" {
  value = 1 / var.shards
}
''')  # known only once the variables are: validate cannot see it, plan must
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    _no_crash(r)
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert (d.summary, d.location) == ("Division by zero", "main.mlf.hcl:14:15"), d
    assert tmp_project.run("validate").exit_code == 0


def test_an_error_in_one_resource_is_reported_once_and_dependants_add_none(tmp_project: Project) -> None:
    _setup(tmp_project, '''
endpoint "a" {
  provider = provider.testing
  model    = model.m
  replicas = 1 / 0
}

endpoint "b" {
  provider    = provider.testing
  model       = model.m
  environment = { PEER = endpoint.a.url }
}

output "b" {
  value = endpoint.b.url
}
''')
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    _no_crash(r)
    errs = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert len(errs) == 1 and errs[0].location is not None and errs[0].location.startswith("main.mlf.hcl:11:"), errs
