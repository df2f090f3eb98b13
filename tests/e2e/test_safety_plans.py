"""Plans keep the promises users rely on most, checked through the CLI (issue 22).

Each test is one a seeded one-line bug once slipped through:

* a saved plan made before a later apply of the same lineage is refused, and the later apply's
  value stays (an old ``replicas = 2`` plan must not overwrite a ``replicas = 3`` apply);
* a ``create_before_destroy`` replacement creates the new object before deleting the old one,
  as the provider sees the calls (and a plain replacement deletes first);
* ``lifecycle.ignore_changes``: an ignored attribute changed outside mlform is not a change for
  ``plan --detailed-exitcode`` (exit 0), while the same drift on another attribute is (exit 2);
* a sensitive top-level string changed by an update is ``(sensitive value)`` in the plan text,
  ``null`` with its path marked in plan JSON, and absent from apply's output and the state.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from mlform.engine.values import UNKNOWN
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project

PROVIDER = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}
'''


def _objects(p: Project) -> dict[str, Any]:
    """The testing provider's remote objects, as it stores them."""
    return json.loads(p.read(".mlform/testing-objects.json"))  # type: ignore[no-any-return]


def _remote(p: Project, address: str) -> dict[str, Any]:
    (obj,) = [o["attributes"] for o in _objects(p).values() if o["address"] == address]
    return obj  # type: ignore[no-any-return]


def _state_attrs(p: Project, address: str) -> dict[str, Any]:
    for r in p.state()["resources"]:
        if r["address"] == address:
            return r["attributes"]  # type: ignore[no-any-return]
    raise AssertionError(f"{address} not in state")


# -- a stale saved plan at a later serial of the same lineage --------------------------------

REPLICAS = PROVIDER + '''
variable "replicas" {
  type = number
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = var.replicas
}
'''


def test_a_plan_saved_before_a_later_apply_of_the_same_lineage_is_refused(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": REPLICAS})
    assert p.run("apply", "--auto-approve", "-var", "replicas=1").exit_code == 0
    first = p.state()
    r = p.run("plan", "-var", "replicas=2", "--out", "old.mlfplan")
    assert r.exit_code == 0, r
    r = p.run("apply", "--auto-approve", "-var", "replicas=3")
    assert r.exit_code == 0, r
    later = p.state()
    assert later["lineage"] == first["lineage"] and later["serial"] > first["serial"]

    r = p.run("apply", "old.mlfplan")
    assert r.exit_code == 1, r
    assert "Saved plan is stale" in r.output
    assert f"then the state was at serial {first['serial']}, now the state is at serial {later['serial']}" \
        in r.output
    assert "Traceback" not in r.output
    # Nothing was carried out: the later apply's value stands, in state and remotely.
    assert p.state()["serial"] == later["serial"]
    assert _state_attrs(p, "endpoint.e")["replicas"] == 3
    assert _remote(p, "endpoint.e")["replicas"] == 3


def test_a_plan_saved_at_the_current_serial_applies(tmp_project: Project) -> None:
    """The refusal above is about the serial, not about saved plans: a fresh one applies."""
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": REPLICAS})
    assert p.run("apply", "--auto-approve", "-var", "replicas=1").exit_code == 0
    assert p.run("plan", "-var", "replicas=2", "--out", "now.mlfplan").exit_code == 0
    r = p.run("apply", "now.mlfplan")
    assert r.exit_code == 0, r
    assert "0 added, 1 changed, 0 destroyed" in r.output
    assert _remote(p, "endpoint.e")["replicas"] == 2


# -- create_before_destroy: the order of the provider's calls --------------------------------

REPLACED = PROVIDER + '''
endpoint "e" {
  provider      = provider.testing
  model         = model.m
  instance_type = "%s"
  lifecycle {
    create_before_destroy = %s
  }
}
'''


def _replace_calls(p: Project, cbd: str) -> list[tuple[str, str | None]]:
    """Apply, change a replace-forcing attribute, apply again; the second apply's calls."""
    def replace_on_instance_type(req: Any, default: Any) -> Any:
        resp = default(req)
        resp.requires_replace = [("instance_type",)]
        prior = req.prior_state or {}
        if prior and resp.planned_state and prior.get("instance_type") != resp.planned_state.get("instance_type"):
            # a replacement is a new object: its id and URL are known after apply (the testing
            # provider's own plan keeps the prior ones, and mlform does not plan the create anew)
            resp.planned_state = {**resp.planned_state, "id": UNKNOWN, "url": UNKNOWN}
        return resp

    calls: list[tuple[str, Any]] = []

    def record(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "endpoint.e":
            prior = (req.prior_state or {}).get("id")
            # what exists remotely once the call is done: both objects in between, for cbd
            calls.append((req.action, prior))
            calls.append(("exist", [o["attributes"]["id"] for o in _objects(p).values()
                                    if o["address"] == "endpoint.e"]))
        return resp

    p.write_files({"m.onnx": "weights", "main.mlf.hcl": REPLACED % ("small", cbd)})
    TestProvider.hooks["plan_change"] = replace_on_instance_type
    assert p.run("apply", "--auto-approve").exit_code == 0
    old_id = _state_attrs(p, "endpoint.e")["id"]
    p.write("main.mlf.hcl", REPLACED % ("large", cbd))
    TestProvider.hooks["apply_change"] = record
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 1 destroyed" in r.output
    new_id = _state_attrs(p, "endpoint.e")["id"]
    assert new_id != old_id
    assert _remote(p, "endpoint.e")["instance_type"] == "large"
    names = {old_id: "OLD", new_id: "NEW"}
    return [(a, ",".join(sorted(names[i] for i in x)) if isinstance(x, list) else x and names[x]) for a, x in calls]


def test_create_before_destroy_creates_the_new_object_before_deleting_the_old(tmp_project: Project) -> None:
    calls = _replace_calls(tmp_project, "true")
    # the create has no prior object; the delete names the old one; both exist in between
    assert calls == [("create", None), ("exist", "NEW,OLD"), ("delete", "OLD"), ("exist", "NEW")], calls


def test_a_plain_replacement_deletes_first(tmp_project: Project) -> None:
    calls = _replace_calls(tmp_project, "false")
    assert calls == [("delete", "OLD"), ("exist", ""), ("create", None), ("exist", "NEW")], calls


# -- ignore_changes against drift --------------------------------------------------------------

IGNORING = PROVIDER + '''
endpoint "e" {
  provider      = provider.testing
  model         = model.m
  instance_type = "small"
  replicas      = 2
  lifecycle {
    ignore_changes = [replicas]
  }
}
'''


def _drift(p: Project, address: str, **attrs: Any) -> None:
    """Change a remote object behind mlform's back, as a console edit would."""
    objs = _objects(p)
    for o in objs.values():
        if o["address"] == address:
            o["attributes"].update(attrs)
    p.write(".mlform/testing-objects.json", json.dumps(objs))


@pytest.mark.parametrize("attribute, value, exit_code", [
    ("replicas", 5, 0),  # ignored: no change to make
    ("instance_type", "huge", 2),  # not ignored: mlform puts it back
])
def test_an_ignored_attribute_changed_outside_mlform_is_not_a_change(
        tmp_project: Project, attribute: str, value: Any, exit_code: int) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": IGNORING})
    assert p.run("apply", "--auto-approve").exit_code == 0
    _drift(p, "endpoint.e", **{attribute: value})
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == exit_code, r
    if exit_code == 0:
        assert "No changes." in r.output
        # and an apply leaves the outside value alone
        assert p.run("apply", "--auto-approve").exit_code == 0
        assert _remote(p, "endpoint.e")[attribute] == value
    else:
        assert f'~ {attribute} = "{value}" -> "small"' in r.output
        assert "1 to change" in r.output


# -- a sensitive top-level string in an update ---------------------------------------------

SECRET_TYPE = PROVIDER + '''
variable "itype" {
  type      = string
  sensitive = true
}

endpoint "e" {
  provider      = provider.testing
  model         = model.m
  instance_type = var.itype
}
'''


def test_a_sensitive_string_changed_by_an_update_is_never_shown(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": SECRET_TYPE})
    r = p.run("apply", "--auto-approve", "-var", "itype=first-secret")
    assert r.exit_code == 0, r
    assert "first-secret" not in r.output

    # The state keeps only a digest of the secret: without a refresh, that digest is all a plan
    # has to tell a changed secret from the same one.
    same = p.run("plan", "--detailed-exitcode", "--refresh=false", "-var", "itype=first-secret")
    assert same.exit_code == 0, same
    moved = p.run("plan", "--detailed-exitcode", "--refresh=false", "-var", "itype=second-secret")
    assert moved.exit_code == 2, moved
    assert "~ instance_type = (sensitive value)" in moved.output

    plan = p.run("plan", "-var", "itype=second-secret", "--out", "p.mlfplan")
    assert plan.exit_code == 0, plan
    assert "~ instance_type = (sensitive value)" in plan.output
    assert "1 to change" in plan.output

    shown = p.run("show", "--json", "p.mlfplan")
    assert shown.exit_code == 0, shown
    (change,) = [c["change"] for c in json.loads(shown.stdout)["resource_changes"] if c["address"] == "endpoint.e"]
    assert change["actions"] == ["update"]
    assert change["before"]["instance_type"] is None and change["after"]["instance_type"] is None
    assert change["before_sensitive"] == {"instance_type": True}
    assert change["after_sensitive"] == {"instance_type": True}

    text = p.run("show", "p.mlfplan")
    assert "(sensitive value)" in text.output

    applied = p.run("apply", "p.mlfplan")
    assert applied.exit_code == 0, applied
    assert "0 added, 1 changed, 0 destroyed" in applied.output
    for out in (same.output, moved.output, plan.output, shown.output, text.output, applied.output, p.read("mlform.state.json")):
        assert "first-secret" not in out and "second-secret" not in out
    # the provider did get the new value: redaction is for display only
    assert _remote(p, "endpoint.e")["instance_type"] == "second-secret"


# -- a saved plan on disk ----------------------------------------------------------------------


def test_a_saved_plan_is_synced_then_renamed_and_private_even_over_a_leftover(
        tmp_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": REPLICAS})
    leftover = p.write("p.mlfplan.tmp", "from a plan killed mid-write")
    leftover.chmod(0o644)
    events: list[tuple[str, str, int]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name, os.fstat(fd).st_size))

    def replace(src: Any, dst: Any) -> None:
        events.append(("rename", Path(dst).name, os.stat(src).st_size))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    r = p.run("plan", "-var", "replicas=1", "--out", "p.mlfplan")
    monkeypatch.undo()
    assert r.exit_code == 0, r
    size = (p.path / "p.mlfplan").stat().st_size
    assert ("fsync", "p.mlfplan.tmp", size) in events and ("rename", "p.mlfplan", size) in events, events
    assert events.index(("fsync", "p.mlfplan.tmp", size)) < events.index(("rename", "p.mlfplan", size))
    assert ((p.path / "p.mlfplan").stat().st_mode & 0o777) == 0o600
    assert not (p.path / "p.mlfplan.tmp").exists()
    # nothing sensitive in it, no key: the line says nothing more
    assert "Saved the plan to: p.mlfplan\n" in r.output


def test_a_saved_plan_says_it_is_encrypted_and_applies_with_the_key(tmp_project: Project) -> None:
    p = tmp_project
    key = {"MLFORM_STATE_KEY": base64.b64encode(b"s" * 32).decode()}
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": SECRET_TYPE})
    r = p.run("plan", "-var", "itype=third-secret", "--out", "p.mlfplan", env=key)
    assert r.exit_code == 0, r
    assert "Saved the plan to: p.mlfplan (encrypted with the state key)\n" in r.output
    assert b"third-secret" not in (p.path / "p.mlfplan").read_bytes()
    applied = p.run("apply", "p.mlfplan", env=key)
    assert applied.exit_code == 0, applied
    assert _remote(p, "endpoint.e")["instance_type"] == "third-secret"


def test_a_saved_plan_names_its_format_and_says_when_only_a_variable_is_sensitive(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROVIDER + '''
variable "unused_token" {
  type      = string
  sensitive = true
  default   = "t0ken"
}
'''})
    r = p.run("plan", "--out", "p.mlfplan")
    assert r.exit_code == 0, r
    assert "(it holds sensitive values in plain text, readable only by you: set MLFORM_STATE_KEY" in r.output
    doc = json.loads(p.read("p.mlfplan"))
    assert (doc["format"], doc["format_version"]) == ("mlform-plan", 1)


@pytest.mark.parametrize("content", ["[]", '"a string"', '{"format": "terraform-plan"}'])
def test_a_json_file_that_is_not_a_plan_is_refused(tmp_project: Project, content: str) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROVIDER, "p.mlfplan": content})
    r = p.run("apply", "p.mlfplan")
    assert r.exit_code == 1, r
    assert "Error: Failed to read saved plan" in r.stderr
    assert "p.mlfplan is not an mlform plan file." in r.stderr
    assert "internal error" not in r.output
