"""What an apply reports and records when a provider misbehaves, and what it leaves in state.

Through the CLI with the testing provider (hooks on its calls): a provider call that raises, a
failed create that left an object (tainted), an update whose result is partly unknown (tainted),
a result that differs from the plan, a failed delete in a replacement, the start of an apply
recorded before any provider call (what a kill leaves), outputs cleared by destroy, the
history's per-change digests, and no progress line for what does not change.
"""

from __future__ import annotations

import json
import os
import signal
from typing import Any

from mlform.engine.diagnostics import DiagnosticsError, error
from mlform.engine.providers.protocol import ApplyChangeResponse
from mlform.engine.values import UNKNOWN
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "a" {
  provider      = provider.testing
  model         = model.m
  instance_type = "%(a)s"
  replicas      = %(replicas)s
  lifecycle {
    create_before_destroy = true
  }
}

endpoint "b" {
  provider = provider.testing
  model    = model.m
  environment = {
    UPSTREAM = endpoint.a.url
  }
}

output "url" {
  value = endpoint.a.url
}
'''


def write(p: Project, a: str = "small", replicas: int = 1) -> None:
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % {"a": a, "replicas": replicas}})


def _resource(p: Project, address: str) -> dict[str, Any] | None:
    return next((r for r in p.state()["resources"] if r["address"] == address), None)


def _errors(r: Any) -> list[Any]:
    return [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]


def _only(address: str, action: str, then: Any) -> Any:
    """An apply_change hook: ``then(req, default)`` for ``action`` on ``address``, the default otherwise."""
    def hook(req: Any, default: Any) -> Any:
        if req.address == address and req.action == action:
            return then(req, default)
        return default(req)
    return hook


def test_unchanged_resources_get_no_progress_line(tmp_project: Project) -> None:
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    write(tmp_project, replicas=2)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "endpoint.a: Modifying..." in r.stdout and "endpoint.a: Complete" in r.stdout
    assert "model.m:" not in r.stdout and "endpoint.b:" not in r.stdout, r.stdout
    assert "0 added, 1 changed, 0 destroyed" in r.stdout


def test_a_provider_call_that_raises_fails_that_resource_and_skips_its_dependants(tmp_project: Project) -> None:
    def boom(req: Any, default: Any) -> Any:
        raise DiagnosticsError(error("Quota exceeded", "No capacity for small in this zone.", path=("instance_type",)))

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", boom)
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.summary == "Quota exceeded"
    text = (tmp_project.path / "main.mlf.hcl").read_text().splitlines()
    line = next(i for i, x in enumerate(text, 1) if x.strip().startswith("instance_type"))
    assert d.location is not None and d.location.startswith(f"main.mlf.hcl:{line}:"), d  # at its attribute
    assert "endpoint.b: skipped because endpoint.a failed" in r.stdout, r.stdout
    assert _resource(tmp_project, "endpoint.a") is None and _resource(tmp_project, "endpoint.b") is None
    assert _resource(tmp_project, "model.m") is not None
    hist = tmp_project.state()["history"][-1]
    assert hist["outcome"] == "partial"
    assert [(c["address"], c["ok"]) for c in hist["changes"]] == [("endpoint.a", False), ("model.m", True)]
    assert "url" not in tmp_project.state()["outputs"]  # not known: not recorded, and no error about it


def test_a_failed_create_that_left_an_object_keeps_it_tainted(tmp_project: Project) -> None:
    def half(req: Any, default: Any) -> Any:
        resp: ApplyChangeResponse = default(req)
        resp.diagnostics.error("Health check failed", "The endpoint never became healthy.")
        return resp

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", half)
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    rec = _resource(tmp_project, "endpoint.a")
    assert rec is not None and rec["status"] == "tainted", rec
    TestProvider.hooks.pop("apply_change")
    r = tmp_project.run("plan")
    assert "# endpoint.a is tainted, so must be replaced" in r.stdout, r.stdout


def test_a_failed_update_keeps_the_object_ready(tmp_project: Project) -> None:
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0

    def refused(req: Any, default: Any) -> Any:
        resp: ApplyChangeResponse = default(req)
        resp.diagnostics.error("Update refused", "Try again later.")
        return resp

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "update", refused)
    write(tmp_project, replicas=2)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    rec = _resource(tmp_project, "endpoint.a")
    assert rec is not None and rec["status"] == "ready" and rec["attributes"]["replicas"] == 2, rec


def test_an_update_the_provider_leaves_partly_unknown_is_tainted(tmp_project: Project) -> None:
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0

    def unknown(req: Any, default: Any) -> Any:
        resp: ApplyChangeResponse = default(req)
        resp.new_state = {**(resp.new_state or {}), "url": UNKNOWN}
        return resp

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "update", unknown)
    write(tmp_project, replicas=2)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert 'Provider returned an unknown value for "url" after apply' in [d.summary for d in _errors(r)]
    rec = _resource(tmp_project, "endpoint.a")
    assert rec is not None and rec["status"] == "tainted" and "url" not in rec["attributes"], rec


def test_a_result_that_differs_from_the_plan_is_a_provider_bug(tmp_project: Project) -> None:
    def other(req: Any, default: Any) -> Any:
        resp: ApplyChangeResponse = default(req)
        resp.new_state = {**(resp.new_state or {}), "instance_type": "tiny"}
        return resp

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", other)
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.summary == "Provider produced inconsistent result after apply"
    assert d.detail.startswith("endpoint.a: \"instance_type\" was planned as 'small' but the provider returned 'tiny'.")
    rec = _resource(tmp_project, "endpoint.a")
    assert rec is not None and rec["attributes"]["instance_type"] == "tiny"  # recorded as returned
    assert "endpoint.b: skipped because endpoint.a failed" in r.stdout


def test_a_replacement_whose_old_object_cannot_be_deleted_keeps_the_new_one(tmp_project: Project) -> None:
    def forces(req: Any, default: Any) -> Any:
        resp = default(req)
        resp.requires_replace = [("instance_type",)]
        return resp

    TestProvider.hooks["plan_change"] = forces
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    old_id = _resource(tmp_project, "endpoint.a")["attributes"]["id"]  # type: ignore[index]

    def stuck(req: Any, default: Any) -> Any:
        r = ApplyChangeResponse(new_state=None)
        r.diagnostics.error("Delete timed out", "The old endpoint is still draining.")
        return r

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "delete", stuck)
    write(tmp_project, a="large")
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert [d.summary for d in _errors(r)] == ["Delete timed out"]
    rec = _resource(tmp_project, "endpoint.a")
    assert rec is not None and rec["attributes"]["instance_type"] == "large" and rec["attributes"]["id"] != old_id
    objs = json.loads(tmp_project.read(".mlform/testing-objects.json"))
    assert old_id in objs and rec["attributes"]["id"] in objs


def test_history_records_each_change_with_its_digest(tmp_project: Project) -> None:
    write(tmp_project)
    tmp_project.write("main.mlf.hcl", tmp_project.read("main.mlf.hcl").replace(
        'provider = provider.testing\n  source   = "./m.onnx"', 'source = "./m.onnx"'))  # the builtin model
    tmp_project.copy_model("m.onnx")
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    st = tmp_project.state()
    changes = {c["address"]: c for c in st["history"][-1]["changes"]}
    assert set(changes) == {"model.m", "endpoint.a", "endpoint.b"}
    digest = _resource(tmp_project, "model.m")["attributes"]["digest"]  # type: ignore[index]
    assert digest.startswith("sha256:") and changes["model.m"]["digest"] == digest
    assert all(c["ok"] is True and c["action"] == "create" for c in changes.values())


def test_destroy_removes_every_object_and_clears_the_outputs(tmp_project: Project) -> None:
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    assert tmp_project.state()["outputs"]["url"]["value"].startswith("http://127.0.0.1:0/")
    r = tmp_project.run("destroy", "--auto-approve")
    assert r.exit_code == 0, r
    st = tmp_project.state()
    assert st["resources"] == [] and st["outputs"] == {}
    objs = json.loads(tmp_project.read(".mlform/testing-objects.json"))
    assert not [o for o in objs.values() if o["address"].startswith("endpoint.")]
    assert st["history"][-1]["outcome"] == "succeeded"


def test_a_resource_removed_from_the_configuration_is_destroyed_and_forgotten(tmp_project: Project) -> None:
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    b_id = _resource(tmp_project, "endpoint.b")["attributes"]["id"]  # type: ignore[index]
    text = CONFIG % {"a": "small", "replicas": 1}
    tmp_project.write("main.mlf.hcl", text[:text.index('endpoint "b"')] + text[text.index('output "url"'):])
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "0 added, 0 changed, 1 destroyed" in r.stdout
    assert _resource(tmp_project, "endpoint.b") is None
    assert b_id not in json.loads(tmp_project.read(".mlform/testing-objects.json"))


def test_ctrl_c_starts_nothing_new_and_says_what_did_not_start(tmp_project: Project) -> None:
    def interrupt(req: Any, default: Any) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while endpoint.a is being created
        return default(req)

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", interrupt)
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 130, r
    assert "endpoint.b: not started: interrupted" in r.stdout, r.stdout
    assert _resource(tmp_project, "endpoint.a") is not None  # what was in flight finished, recorded
    assert _resource(tmp_project, "endpoint.b") is None
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0  # the next apply carries on
    assert _resource(tmp_project, "endpoint.b") is not None


def test_a_create_before_destroy_replacement_whose_create_fails_keeps_the_old_object(tmp_project: Project) -> None:
    def forces(req: Any, default: Any) -> Any:
        resp = default(req)
        resp.requires_replace = [("instance_type",)]
        return resp

    TestProvider.hooks["plan_change"] = forces
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    old = _resource(tmp_project, "endpoint.a")

    def no_capacity(req: Any, default: Any) -> Any:
        r = ApplyChangeResponse(new_state=None)
        r.diagnostics.error("No capacity", "No large instances are free.")
        return r

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", no_capacity)
    write(tmp_project, a="large")
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert [d.summary for d in _errors(r)] == ["No capacity"]
    kept = _resource(tmp_project, "endpoint.a")
    assert kept is not None and kept["attributes"] == old["attributes"]  # type: ignore[index]  # still serving
    assert kept["attributes"]["id"] in json.loads(tmp_project.read(".mlform/testing-objects.json"))


def test_a_final_plan_the_provider_contradicts_is_recorded_as_failed(tmp_project: Project) -> None:
    seen: list[str] = []

    def shifty(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "endpoint.b" and resp.planned_state is not None:
            seen.append(req.address)  # planned with endpoint.a's url unknown, then again at apply
            resp.planned_state = {**resp.planned_state, "instance_type": f"size-{len(seen)}"}
        return resp

    TestProvider.hooks["plan_change"] = shifty
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert [d.summary for d in _errors(r)] == ["Provider produced inconsistent final plan"]
    changes = {c["address"]: c["ok"] for c in tmp_project.state()["history"][-1]["changes"]}
    assert changes == {"model.m": True, "endpoint.a": True, "endpoint.b": False}
    assert _resource(tmp_project, "endpoint.b") is None


def test_a_rollout_the_provider_cannot_stage_fails_the_apply(tmp_project: Project) -> None:
    from mlform.engine.providers.rollout import StageResult

    def plan(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "endpoint.a" and req.prior_state and resp.planned_state is not None and \
                req.prior_state.get("replicas") != resp.planned_state.get("replicas"):
            resp.rollout = True
        return resp

    TestProvider.hooks["plan_change"] = plan
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    before = _resource(tmp_project, "endpoint.a")
    TestProvider.hooks["rollout.stage"] = lambda req, default: StageResult(None, None, None)  # type: ignore[arg-type]
    write(tmp_project, replicas=2)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    assert "Apply complete" not in r.stdout
    assert _resource(tmp_project, "endpoint.a") == before
    assert tmp_project.state()["history"][-1]["rollouts"][0]["outcome"] == "failed_to_stage"


def test_a_result_missing_an_attribute_is_still_checked_for_the_rest(tmp_project: Project) -> None:
    def other(req: Any, default: Any) -> Any:
        resp: ApplyChangeResponse = default(req)
        state = {k: v for k, v in (resp.new_state or {}).items() if k != "model"}  # left out: not checked
        resp.new_state = {**state, "replicas": 5}
        return resp

    TestProvider.hooks["apply_change"] = _only("endpoint.a", "create", other)
    write(tmp_project)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.summary == "Provider produced inconsistent result after apply"
    assert '"replicas" was planned as 1 but the provider returned 5' in d.detail


def test_an_output_that_fails_once_values_are_known_is_an_error_and_not_recorded(tmp_project: Project) -> None:
    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": (CONFIG % {"a": "small", "replicas": 1}).replace(
        "value = endpoint.a.url", "value = tonumber(endpoint.a.id)")})  # known only after apply: not a number
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.summary == "Error in function call tonumber()" and 'cannot convert "obj-' in d.detail, d
    assert d.location is not None and d.location.startswith("main.mlf.hcl:"), d
    assert tmp_project.state()["outputs"] == {}
    assert _resource(tmp_project, "endpoint.a") is not None and _resource(tmp_project, "endpoint.b") is not None
