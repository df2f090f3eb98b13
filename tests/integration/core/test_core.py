"""The engine core driven from Python, as a program embedding mlform would: no CLI, no Session.

Each test builds a project on disk with the testing provider (records in
``.mlform/testing-objects.json``, hooks on every call), opens it with
``Core.open`` and checks what the operation returned and what state now
records.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlform.engine.core import Core, PlanOptions
from mlform.engine.providers.protocol import PlanChangeResponse
from mlform.engine.providers.registry import register, unregister
from mlform.providers.testing import TestProvider

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./%(model)s"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = %(replicas)s
  instance_type = "%(zone)s"
%(rollout)s}
'''

ROLLOUT = '''  rollout {
    strategy     = "canary"
    steps        = [25, 100]
    bake_seconds = 0
  }
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    register("testing", TestProvider)  # in this process, whatever entry points the test run set up
    TestProvider.hooks.clear()
    for name in ("m-v1.onnx", "m-v2.onnx"):
        (tmp_path / name).write_text(name)
    yield tmp_path
    TestProvider.hooks.clear()
    unregister("testing")


def write(project: Path, model: str = "m-v1.onnx", replicas: int = 1, zone: str = "small", rollout: bool = False) -> None:
    (project / "main.mlf.hcl").write_text(PROJECT % {"model": model, "replicas": replicas, "zone": zone,
                                                     "rollout": ROLLOUT if rollout else ""})


def core(project: Path) -> Core:
    c, d = Core.open(project, use_cache=False)
    assert c is not None, [x.summary for x in d]
    return c


def plan_and_apply(project: Path, opts: PlanOptions | None = None, events: list[str] | None = None) -> Any:
    c = core(project)
    res = c.plan(opts)
    assert res.plan is not None, [x.summary for x in res.diagnostics]
    with c.state.locked("OperationTypeApply", 0):
        return res.plan, c.apply(res.plan, res.context, parallelism=2,
                                 progress=lambda a, m: events.append(f"{a}: {m}") if events is not None else None)


def actions(plan: Any) -> dict[str, str]:
    return {ch.address: ch.action for ch in plan.changes}


def recorded(project: Path) -> dict[str, Any]:
    doc = json.loads((project / "mlform.state.json").read_text())
    return {r["address"]: r for r in doc["resources"]}


def objects(project: Path) -> dict[str, Any]:
    return json.loads((project / ".mlform" / "testing-objects.json").read_text())  # type: ignore[no-any-return]


def test_create_update_replace_and_delete(project: Path) -> None:
    write(project)
    plan, res = plan_and_apply(project)
    assert actions(plan) == {"model.m": "create", "endpoint.e": "create"}
    assert not res.failed and (res.added, res.changed, res.destroyed) == (2, 0, 0)
    first_id = recorded(project)["endpoint.e"]["attributes"]["id"]
    assert first_id in objects(project)

    write(project, replicas=3)
    plan, res = plan_and_apply(project)
    assert actions(plan)["endpoint.e"] == "update" and (res.added, res.changed, res.destroyed) == (0, 1, 0)
    assert recorded(project)["endpoint.e"]["attributes"]["replicas"] == 3

    def instance_type_replaces(req: Any, default: Any) -> PlanChangeResponse:
        resp: PlanChangeResponse = default(req)
        resp.requires_replace = [("instance_type",)]
        return resp

    TestProvider.hooks["plan_change"] = instance_type_replaces  # a new instance type needs a new endpoint
    write(project, replicas=3, zone="large")
    events: list[str] = []
    plan, res = plan_and_apply(project, events=events)
    assert actions(plan)["endpoint.e"] == "replace" and (res.added, res.changed, res.destroyed) == (1, 0, 1)
    assert [e for e in events if e.startswith("endpoint.e")] == [
        "endpoint.e: Destroying...", "endpoint.e: Creating...", "endpoint.e: Complete"]
    assert recorded(project)["endpoint.e"]["attributes"]["instance_type"] == "large"
    new_id = recorded(project)["endpoint.e"]["attributes"]["id"]  # a replacement is a new object
    assert new_id != first_id and [k for k, o in objects(project).items() if o["address"] == "endpoint.e"] == [new_id]
    assert objects(project)[new_id]["attributes"]["instance_type"] == "large"

    plan, res = plan_and_apply(project, PlanOptions(mode="destroy"))
    assert set(actions(plan).values()) == {"delete"} and res.destroyed == 2
    assert recorded(project) == {} and objects(project) == {}


def test_a_failed_create_is_reported_and_what_depends_on_it_is_skipped(project: Path) -> None:
    def fail_model(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.address == "model.m":
            resp.new_state = None
            resp.diagnostics.error("Model upload failed", "The registry refused it.")
        return resp

    TestProvider.hooks["apply_change"] = fail_model
    write(project)
    _, res = plan_and_apply(project)
    assert res.failed and res.added == 0
    err = next(x for x in res.diagnostics if x.is_error)
    assert err.summary == "Model upload failed" and err.address == "model.m"
    assert err.range is not None and err.range.start.line == 3  # placed at the model block
    assert res.outcome is not None and res.outcome.skipped == {"endpoint.e": "model.m"}
    assert recorded(project) == {}


def test_an_update_with_a_rollout_goes_through_the_rollout_protocol(project: Path) -> None:
    write(project, rollout=True)
    plan_and_apply(project)
    staged: list[str] = []

    def plan_change(req: Any, default: Any) -> PlanChangeResponse:
        resp: PlanChangeResponse = default(req)
        if req.kind == "endpoint" and req.prior_state and resp.planned_state is not None \
                and req.prior_state.get("model") != resp.planned_state.get("model"):
            resp.rollout = True  # a new model version is rolled out, not replaced in place
        return resp

    def stage(req: Any, default: Any) -> Any:
        staged.append(req.address)
        return default(req)

    TestProvider.hooks["plan_change"] = plan_change
    TestProvider.hooks["rollout.stage"] = stage
    write(project, model="m-v2.onnx", rollout=True)
    plan, res = plan_and_apply(project)
    change = next(ch for ch in plan.changes if ch.address == "endpoint.e")
    assert change.action == "update" and change.rollout is not None and change.rollout["strategy"] == "canary"
    assert not res.failed, [x.summary for x in res.diagnostics]
    assert staged == ["endpoint.e"]
    history = json.loads((project / "mlform.state.json").read_text())["history"]
    rollout = history[-1]["rollouts"][0]
    assert rollout["address"] == "endpoint.e" and rollout["outcome"] == "completed"
    assert recorded(project)["endpoint.e"]["attributes"]["model"]["source"].endswith("m-v2.onnx")


def test_validate_evaluates_with_inputs_unknown_and_places_errors_at_the_source(project: Path) -> None:
    write(project)
    assert core(project).validate().ok
    text = (project / "main.mlf.hcl").read_text().replace("replicas = 1", "replicas = local.r")
    (project / "main.mlf.hcl").write_text(text + 'locals {\n  r = [1, 2]\n}\n')
    res = core(project).validate()  # the file decodes: only evaluating local.r shows the mistake
    assert not res.ok
    [err] = res.diagnostics.errors
    assert err.summary == "Incorrect attribute value type" and "number required" in err.detail
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "local.r" in ln)
    assert err.range is not None and (err.range.start.line, err.range.start.col) == (
        line, text.splitlines()[line - 1].index("local.r") + 1)


def test_refresh_notices_an_object_deleted_outside_mlform(project: Path) -> None:
    write(project)
    plan_and_apply(project)
    gone = recorded(project)["endpoint.e"]["attributes"]["id"]
    objs = objects(project)
    del objs[gone]
    (project / ".mlform" / "testing-objects.json").write_text(json.dumps(objs))

    c = core(project)
    with c.state.locked("OperationTypeApply", 0):
        res = c.refresh()
    assert res.plan is not None and not res.diagnostics.has_errors
    assert [(x["address"], x["action"]) for x in res.drift] == [("endpoint.e", "delete")]
    assert set(recorded(project)) == {"model.m"}
    plan = core(project).plan().plan
    assert plan is not None and actions(plan)["endpoint.e"] == "create"  # the next plan creates it again


def test_import_adopts_an_existing_object(project: Path) -> None:
    write(project)
    plan_and_apply(project)
    existing = recorded(project)["endpoint.e"]
    c = core(project)
    with c.state.locked("OperationTypeInvalid", 0):
        again = c.import_resource("endpoint.e", existing["attributes"]["id"])
        assert again.resource is None and again.diagnostics.errors[0].summary == "Resource already managed"
    doc = json.loads((project / "mlform.state.json").read_text())
    doc["resources"] = [r for r in doc["resources"] if r["address"] != "endpoint.e"]
    (project / "mlform.state.json").write_text(json.dumps(doc))  # forget it, as `state rm` would

    c = core(project)
    with c.state.locked("OperationTypeInvalid", 0):
        res = c.import_resource("endpoint.e", existing["attributes"]["id"])
        missing = c.import_resource("endpoint.nope", "x")
    assert res.resource is not None and not res.diagnostics.has_errors
    assert recorded(project)["endpoint.e"]["attributes"] == existing["attributes"]
    assert missing.resource is None
    assert missing.diagnostics.errors[0].summary == "Configuration for import target does not exist"
    plan = core(project).plan().plan
    assert plan is not None and actions(plan)["endpoint.e"] == "no-op"


SUITES = '''model "sentiment" {
  source = "%(model)s"
  format = "onnx"
}

eval_suite "golden" {
  target  = model.sentiment
  dataset = "%(data)s"
  metric "accuracy" { min = %(min)s }
}
'''
QUICKSTART = Path(__file__).resolve().parents[3] / "examples" / "quickstart"


def test_run_suites_evaluates_the_planned_target_now(project: Path) -> None:
    def write_suite(model: str, min_accuracy: float) -> None:
        (project / "main.mlf.hcl").write_text(SUITES % {
            "model": QUICKSTART / "models" / model, "data": QUICKSTART / "data" / "golden.jsonl",
            "min": min_accuracy})

    write_suite("sentiment-v1.onnx", 0.85)
    events: list[str] = []
    res = core(project).run_suites([], progress=lambda a, m: events.append(a))
    assert res.plan is not None and not res.failed, [x.summary for x in res.diagnostics]
    [result] = res.results
    assert result.passed and set(events) == {"eval_suite.golden"}
    assert not (project / "mlform.state.json").exists()  # running suites records nothing

    write_suite("sentiment-broken.onnx", 0.85)
    broken = core(project).run_suites(["golden"])
    assert broken.failed and broken.results and not broken.results[0].passed

    missing = core(project).run_suites(["nope"])
    assert missing.failed and missing.plan is None
    assert missing.diagnostics.errors[0].summary == 'No eval suite "eval_suite.nope"'
