"""A replacement creates a *new* object and destroys the *old* one (the recorded one, by its id).

The testing provider trusts planned values, as many real providers do: an ``id`` known in the
plan is the id the object is created with. A replacement planned from the old object's state
would carry the old id into the create, and the delete that follows would then remove the
object just created. These tests replace an endpoint through the CLI, with and without
``create_before_destroy``, by a replace-forcing change, ``--replace`` and a taint, and look at
what exists remotely and what state records afterwards.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

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

output "url" {
  value = endpoint.e.url
}
'''


def _remote(p: Project) -> dict[str, dict[str, Any]]:
    """The endpoint's remote objects by id, as the testing provider stores them."""
    objs = json.loads(p.read(".mlform/testing-objects.json"))
    return {k: o["attributes"] for k, o in objs.items() if o["address"] == "endpoint.e"}


def _recorded(p: Project) -> dict[str, Any]:
    (r,) = [r for r in p.state()["resources"] if r["address"] == "endpoint.e"]
    return r["attributes"]  # type: ignore[no-any-return]


def _forces_replacement_on_instance_type(req: Any, default: Any) -> Any:
    resp = default(req)  # the provider's own plan: nothing else changed
    resp.requires_replace = [("instance_type",)]
    return resp


def _first_apply(p: Project, cbd: str) -> str:
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % ("small", cbd)})
    TestProvider.hooks["plan_change"] = _forces_replacement_on_instance_type
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    old_id: str = _recorded(p)["id"]
    assert list(_remote(p)) == [old_id]
    return old_id


def _check_replaced(p: Project, old_id: str, instance_type: str) -> None:
    remote = _remote(p)
    new = _recorded(p)
    assert new["id"] != old_id, "the replacement reused the old object's id"
    assert list(remote) == [new["id"]], f"remote objects {sorted(remote)}, state records {new['id']}"
    assert remote[new["id"]]["instance_type"] == instance_type
    assert p.state()["outputs"]["url"]["value"] == new["url"] != f"http://127.0.0.1:0/{old_id}"
    r = p.run("plan", "--detailed-exitcode")  # what state records is what exists: nothing to do
    assert r.exit_code == 0, r


@pytest.mark.parametrize("cbd", ["true", "false"])
def test_a_forced_replacement_leaves_the_new_object_and_removes_the_old(tmp_project: Project, cbd: str) -> None:
    old_id = _first_apply(tmp_project, cbd)
    tmp_project.write("main.mlf.hcl", CONFIG % ("large", cbd))
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 1 destroyed" in r.output
    _check_replaced(tmp_project, old_id, "large")


def test_a_replacement_plan_shows_new_computed_values_as_known_after_apply(tmp_project: Project) -> None:
    old_id = _first_apply(tmp_project, "true")
    tmp_project.write("main.mlf.hcl", CONFIG % ("large", "true"))
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert f'~ id            = "{old_id}" -> (known after apply)' in r.stdout, r.stdout
    assert "~ url           = " in r.stdout and "-> (known after apply)" in r.stdout, r.stdout
    assert '~ instance_type = "small" -> "large"  # forces replacement' in r.stdout, r.stdout
    assert "~ url = " in r.stdout.split("Changes to Outputs:")[1], r.stdout  # the output changes too
    tmp_project.run("plan", "--out", "p.mlfplan")
    shown = json.loads(tmp_project.run("show", "--json", "p.mlfplan").stdout)
    (ch,) = [c["change"] for c in shown["resource_changes"] if c["address"] == "endpoint.e"]
    assert ch["actions"] == ["create", "delete"]
    assert ch["before"]["id"] == old_id and ch["after"]["id"] is None, ch  # unknown: null, marked below
    assert ch["after_unknown"].get("id") is True and ch["after_unknown"].get("url") is True, ch


@pytest.mark.parametrize("cbd", ["true", "false"])
def test_replace_flag_and_taint_create_a_new_object(tmp_project: Project, cbd: str) -> None:
    old_id = _first_apply(tmp_project, cbd)
    r = tmp_project.run("apply", "--auto-approve", "--replace", "endpoint.e")
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 1 destroyed" in r.output
    _check_replaced(tmp_project, old_id, "small")
    second = _recorded(tmp_project)["id"]
    doc = json.loads(tmp_project.run("state", "pull").stdout)  # tainted, as a failed create leaves it
    for res in doc["resources"]:
        if res["address"] == "endpoint.e":
            res["status"] = "tainted"
    doc["serial"] += 1
    tmp_project.write("tainted.json", json.dumps(doc))
    r = tmp_project.run("state", "push", "tainted.json")
    assert r.exit_code == 0, r
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 1 destroyed" in r.output
    _check_replaced(tmp_project, second, "small")


def test_the_create_of_a_replacement_gets_no_private_data_of_the_old_object(tmp_project: Project) -> None:
    """The new object is a new object: what the provider kept for the old one goes to its delete only."""
    seen: list[tuple[str, Any, dict[str, Any]]] = []

    def record(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "endpoint.e":
            if resp.new_state is not None:
                resp.private = {"made_by": req.operation_id}
            seen.append((req.action, (req.prior_state or {}).get("id"), dict(req.prior_private)))
        return resp

    TestProvider.hooks["apply_change"] = record
    old_id = _first_apply(tmp_project, "true")
    (kept,) = [r["private"] for r in tmp_project.state()["resources"] if r["address"] == "endpoint.e"]
    assert kept.get("made_by"), kept
    seen.clear()
    tmp_project.write("main.mlf.hcl", CONFIG % ("large", "true"))
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert [(a, i) for a, i, _ in seen] == [("create", None), ("delete", old_id)], seen
    assert seen[0][2] == {}, "the create was given the old object's private data"
    assert seen[1][2] == kept, "the delete was not given the old object's private data"
    _check_replaced(tmp_project, old_id, "large")


def test_what_the_provider_says_of_the_new_object_is_shown_once(tmp_project: Project) -> None:
    """The create half is planned on its own: its errors stop the plan, at their attribute; a
    warning given for both halves is shown once."""
    from tests.fixtures.project import parse_diagnostics

    def plan(req: Any, default: Any) -> Any:
        resp = _forces_replacement_on_instance_type(req, default)
        if req.address == "endpoint.e":
            resp.diagnostics.warning("Instance type family is old", "Consider a newer one.", path=("instance_type",))
            if req.prior_state is None and (req.config or {}).get("instance_type") == "huge":
                resp.diagnostics.error("No huge instances in this region", "Pick a smaller size.",
                                       path=("instance_type",))
        return resp

    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % ("small", "true")})
    TestProvider.hooks["plan_change"] = plan
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    old_id = _recorded(tmp_project)["id"]
    tmp_project.write("main.mlf.hcl", CONFIG % ("large", "true"))
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    warnings = [d for d in parse_diagnostics(r.stderr) if d.severity == "Warning"]
    assert [d.summary for d in warnings] == ["Instance type family is old"], r.stderr
    tmp_project.write("main.mlf.hcl", CONFIG % ("huge", "true"))
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (err,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert err.summary == "No huge instances in this region"
    assert err.location is not None and err.location.startswith("main.mlf.hcl:11:"), err  # at instance_type
    assert _recorded(tmp_project)["id"] == old_id and list(_remote(tmp_project)) == [old_id]
