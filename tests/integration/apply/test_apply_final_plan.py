"""Changes planned again at apply, once the values their configuration read are known.

Through the CLI with the testing provider, which trusts planned values (an ``id`` known in the
plan is the id the object is created with): a replacement whose configuration reads a value
known only after apply is still a replacement when planned again (a new object, the old one
deleted by its id), and a configuration that fails only once its values are known is an error
at its attribute, and nothing is recorded for it.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "a" {
  provider = provider.testing
  model    = model.m
}

endpoint "b" {
  provider = provider.testing
  model    = model.m
  %s
}
'''


def _remote(p: Project, address: str) -> list[str]:
    objs = json.loads(p.read(".mlform/testing-objects.json"))
    return sorted(k for k, o in objs.items() if o["address"] == address)


def _recorded(p: Project, address: str) -> dict[str, Any] | None:
    return next((r["attributes"] for r in p.state()["resources"] if r["address"] == address), None)


def test_a_replacement_reading_a_value_known_only_after_apply_is_a_new_object(tmp_project: Project) -> None:
    tmp_project.write_files({"m.onnx": "weights",
                             "main.mlf.hcl": CONFIG % "environment = {\n    UPSTREAM = endpoint.a.url\n  }"})
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    old = _recorded(tmp_project, "endpoint.b")
    assert old is not None
    r = tmp_project.run("plan", "-replace=endpoint.a", "-replace=endpoint.b")
    assert "(known after apply)" in r.stdout, r  # b's UPSTREAM reads the new a's url
    r = tmp_project.run("apply", "--auto-approve", "-replace=endpoint.a", "-replace=endpoint.b")
    assert r.exit_code == 0, r
    assert "2 added, 0 changed, 2 destroyed" in r.stdout, r.stdout
    new = _recorded(tmp_project, "endpoint.b")
    a = _recorded(tmp_project, "endpoint.a")
    assert new is not None and a is not None
    assert new["id"] != old["id"], "the replacement reused the old object's id"
    assert _remote(tmp_project, "endpoint.b") == [new["id"]], "the old object was not the one deleted"
    assert new["environment"]["UPSTREAM"] == a["url"]
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0


def test_a_configuration_failing_once_its_values_are_known_is_an_error_at_its_attribute(tmp_project: Project) -> None:
    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % "replicas = endpoint.a.url * 2"})
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    errors = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert [x.summary for x in errors] == ["Invalid operand"], r
    line = next(i for i, x in enumerate(CONFIG.splitlines(), 1) if x.strip() == "%s")
    assert all(x.location is not None and x.location.startswith(f"main.mlf.hcl:{line}:") for x in errors), errors
    assert _recorded(tmp_project, "endpoint.a") is not None and _recorded(tmp_project, "endpoint.b") is None
    assert _remote(tmp_project, "endpoint.b") == []


def test_a_provider_planning_no_object_for_a_configured_resource_is_an_error(tmp_project: Project) -> None:
    """Once silently left out of the plan (``Plan: 2 to add``, exit 0); now an error at the resource."""
    from mlform.engine.providers.protocol import PlanChangeResponse
    from mlform.providers.testing import TestProvider

    def nothing(req: Any, default: Any) -> Any:
        return PlanChangeResponse(planned_state=None) if req.address == "endpoint.b" else default(req)

    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % ""})
    TestProvider.hooks["plan_change"] = nothing
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert e.summary == "Provider produced invalid plan" and "endpoint.b" in r.stderr, r
    line = next(i for i, x in enumerate(CONFIG.splitlines(), 1) if x.startswith('endpoint "b"'))
    assert e.location is not None and e.location.startswith(f"main.mlf.hcl:{line}:"), e
    TestProvider.hooks.clear()
    assert tmp_project.run("apply", "--auto-approve", "-replace=endpoint.b").exit_code == 0  # nothing to replace yet
    TestProvider.hooks["plan_change"] = lambda req, default: (
        PlanChangeResponse(planned_state=None) if req.address == "endpoint.b" and req.prior_state is None
        else default(req))
    r = tmp_project.run("apply", "--auto-approve", "-replace=endpoint.b")  # the replacement's create half
    assert r.exit_code == 1, r
    assert [x.summary for x in parse_diagnostics(r.stderr) if x.severity == "Error"] == ["Provider produced invalid plan"]
    assert _recorded(tmp_project, "endpoint.b") is not None  # the old object kept
