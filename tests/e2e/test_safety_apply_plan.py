"""What apply does with a plan's unknown values, replacements and refusals (issue 22).

A value known only after apply (an id) is filled in when the resource that reads it is
applied, and the provider is asked again; a provider whose second answer contradicts a value
the plan showed is an error, not a silent change. ``--replace`` on a counted resource replaces
every instance; ``prevent_destroy`` refuses any replacement, saying why.
"""

from __future__ import annotations

import json
from typing import Any

from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "a" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider      = provider.testing
  model         = model.a
  instance_type = "small"
  environment   = { BASE = model.a.id }
}
'''


def _objects(p: Project) -> dict[str, Any]:
    return {o["address"]: o["attributes"] for o in json.loads(p.read(".mlform/testing-objects.json")).values()}


def test_a_value_known_only_after_apply_reaches_the_provider(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROJECT})
    plan = p.run("plan")
    assert "(known after apply)" in plan.output
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    objs = _objects(p)
    assert objs["endpoint.e"]["environment"] == {"BASE": objs["model.a"]["id"]}
    assert p.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_provider_contradicting_its_plan_at_apply_is_an_error(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROJECT})
    seen: list[str] = []

    def shifty(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.kind == "endpoint" and resp.planned_state is not None:
            seen.append(req.address)
            resp.planned_state = {**resp.planned_state, "instance_type": f"size-{len(seen)}"}
        return resp

    TestProvider.hooks["plan_change"] = shifty
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == "Provider produced inconsistent final plan"
    assert "When expanding the plan for endpoint.e, \"instance_type\" changed from 'size-1' to 'size-2'" in d.detail
    assert "endpoint.e" not in _objects(p)  # nothing created from the contradicting answer


COUNTED = '''provider "testing" {}

model "a" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = 2
  provider = provider.testing
  model    = model.a
%s}
'''


def test_replace_of_a_counted_resource_replaces_every_instance(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": COUNTED % ""})
    assert p.run("apply", "--auto-approve").exit_code == 0
    r = p.run("plan", "--replace", "endpoint.e")
    assert r.exit_code == 0, r
    assert "# endpoint.e[0] will be replaced, as requested" in r.output
    assert "# endpoint.e[1] will be replaced, as requested" in r.output
    assert "Plan: 2 to add, 0 to change, 2 to destroy." in r.output
    one = p.run("plan", "--replace", "endpoint.e[1]")
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in one.output, one


def test_prevent_destroy_refuses_a_requested_replacement_saying_why(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights",
                   "main.mlf.hcl": COUNTED % "  lifecycle {\n    prevent_destroy = true\n  }\n"})
    assert p.run("apply", "--auto-approve").exit_code == 0
    r = p.run("plan", "--replace", "endpoint.e[0]")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == "Instance cannot be destroyed"
    assert "endpoint.e[0] has lifecycle.prevent_destroy set, but the plan would replace it (destroy and " \
           "re-create) because --replace asks for it." in d.detail
    assert d.location is not None and d.location.startswith("main.mlf.hcl:")
