"""The rollout controller driven through the rollout protocol alone (engine/providers/rollout.py).

The testing provider's driver (providers/testing/rollout.py) serves plain
records: no server, no private data the engine could read. Hooks observe
and steer each call; the CLI runs in this process so they reach it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from mlform.engine.providers.protocol import PlanChangeResponse
from mlform.engine.providers.rollout import (
    GateTarget, ObserveResult, RolloutCapabilities, StageResult, VerifyWeightsResult,
)
from mlform.providers.testing import TestProvider
from mlform.providers.testing.rollout import served_version
from tests.fixtures.project import Project, parse_diagnostics

ROLLOUT = '''  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 0.3
%(extra)s  }
'''

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./%(model)s"
}
%(suite)s
endpoint "e" {
  provider = provider.testing
  model    = model.m
%(rollout)s}
'''

SUITE = '''
eval_suite "gate" {
  provider = provider.testing
  target   = model.m
  dataset  = "data.jsonl"
  metric "accuracy" { min = 0.5 }
}
'''


def write(project: Project, model: str, extra: str = "", suite: bool = False) -> None:
    project.write("main.mlf.hcl", PROJECT % {"model": model, "suite": SUITE if suite else "",
                                             "rollout": ROLLOUT % {"extra": extra}})


@pytest.fixture
def calls(tmp_project: Project) -> Iterator[list[tuple[str, Any]]]:
    """The rollout calls the controller made, in order (name, request); a changed model is rolled out."""
    seen: list[tuple[str, Any]] = []

    def plan(req: Any, default: Any) -> PlanChangeResponse:
        resp: PlanChangeResponse = default(req)
        if req.kind == "endpoint" and req.prior_state and resp.planned_state is not None and \
                req.prior_state.get("model") != resp.planned_state.get("model"):
            resp.rollout = True
        return resp

    TestProvider.hooks["plan_change"] = plan
    for name in ("stage", "set_weights", "verify_weights", "observe", "finish", "abort", "run_native"):
        TestProvider.hooks[f"rollout.{name}"] = _recording(name, seen)
    for name in ("m-v1.onnx", "m-v2.onnx"):
        tmp_project.write(name, name)
    tmp_project.write("data.jsonl", '{"input": [1.0], "expected": 1}\n')
    yield seen


def _recording(name: str, seen: list[tuple[str, Any]]) -> Any:
    def hook(req: Any, default: Any) -> Any:
        override = TestProvider.hooks.get(f"test.{name}")
        seen.append((name, req))
        return override(req, default) if override else default(req)
    return hook


def _first_apply(project: Project, **kw: Any) -> None:
    write(project, "m-v1.onnx", **kw)
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r


def _endpoint(project: Project) -> dict[str, Any]:
    return next(r for r in project.state()["resources"] if r["address"] == "endpoint.e")


def _rollout_record(project: Project) -> dict[str, Any]:
    return project.state()["history"][-1]["rollouts"][0]  # type: ignore[no-any-return]


def test_steps_and_bakes_go_through_the_protocol(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    _first_apply(tmp_project)
    write(tmp_project, "m-v2.onnx")
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    stage = next(req for name, req in calls if name == "stage")
    names = [n for n, _ in calls]
    assert names[0] == "stage" and names[-1] == "finish" and "abort" not in names
    weights = [req.weights for name, req in calls if name == "set_weights"]
    new, old = _rollout_record(tmp_project)["version"], _endpoint(tmp_project)["attributes"]["traffic"]
    assert [w[new] for w in weights] == [10, 50, 100]
    assert [req.weights for name, req in calls if name == "verify_weights"] == weights
    assert all(req.version_id == new for name, req in calls if name == "observe")
    assert names.count("observe") >= 3  # each step bakes
    for pct in (10, 50, 100):
        assert f"{pct}% of traffic on {new}" in r.stdout
    assert old == {new: 100}
    rec = _rollout_record(tmp_project)
    assert rec["outcome"] == "completed" and [s["percent"] for s in rec["steps"]] == [10, 50, 100]
    # The driver's private data is recorded as the driver returned it; the engine never read it.
    assert _endpoint(tmp_project)["private"] == {"version": new}
    assert stage.private == {}


def test_a_breach_during_a_bake_aborts_through_the_protocol(tmp_project: Project,
                                                            calls: list[tuple[str, Any]]) -> None:
    extra = "    rollback_when {\n      error_rate = 0.01\n    }\n"
    _first_apply(tmp_project, extra=extra)
    before = _endpoint(tmp_project)["attributes"]
    TestProvider.hooks["test.observe"] = lambda req, default: ObserveResult(200, 20, 0.1, 1.0, 2.0, 3.0)
    write(tmp_project, "m-v2.onnx", extra=extra)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    new = _rollout_record(tmp_project)["version"]
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == "Rollout of endpoint.e was rolled back"
    assert d.detail.startswith("error rate 10.00% exceeded rollback_when.error_rate 1.00% at 10%.")
    names = [n for n, _ in calls]
    assert names[-1] == "abort" and "finish" not in names
    abort = calls[-1][1]
    old = served_version(before)
    assert (abort.keep, abort.remove) == (old, new) and old != new
    assert _rollout_record(tmp_project)["outcome"] == "rolled_back"
    after = _endpoint(tmp_project)["attributes"]
    assert after["traffic"] == {old: 100} and after["model"] == before["model"]


def test_weights_the_platform_does_not_confirm_roll_back(tmp_project: Project,
                                                         calls: list[tuple[str, Any]]) -> None:
    _first_apply(tmp_project)
    TestProvider.hooks["test.verify_weights"] = lambda req, default: VerifyWeightsResult(
        False, {k: (0.0 if v < 100 else 100.0) for k, v in req.weights.items()})
    write(tmp_project, "m-v2.onnx")
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    new = _rollout_record(tmp_project)["version"]
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.detail.startswith(f"traffic on {new} did not reach 10% (the provider reports 0%).")
    names = [n for n, _ in calls]
    assert names.count("set_weights") == 1 and "observe" not in names and names[-1] == "abort"
    assert "step 1/3" not in r.stdout  # an unconfirmed split is not reported as a step taken


class _V2Recorder(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str | None]] = []

    def _answer(self) -> None:
        self.seen.append((self.command, self.path, self.headers.get("Authorization")))
        body = json.dumps({"error": "no such model here"}).encode()
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def v2_server() -> Iterator[str]:
    _V2Recorder.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _V2Recorder)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_gates_call_the_stage_s_gate_target(tmp_project: Project, calls: list[tuple[str, Any]],
                                            v2_server: str) -> None:
    extra = "    gates = [eval_suite.gate]\n"
    _first_apply(tmp_project, extra=extra, suite=True)

    def stage(req: Any, default: Any) -> StageResult:
        res: StageResult = default(req)
        res.target = GateTarget(v2_server, "staged-name", "staged-v7", {"Authorization": "Bearer gate-token"})
        return res

    TestProvider.hooks["test.stage"] = stage
    write(tmp_project, "m-v2.onnx", extra=extra, suite=True)
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    # The gate asked the target the stage returned: its base URL, model name, version and headers.
    assert _V2Recorder.seen, r.stderr
    assert _V2Recorder.seen[0] == ("GET", "/v2/models/staged-name/versions/staged-v7", "Bearer gate-token")
    assert "Rollout of endpoint.e was rolled back" in r.stderr and "gate eval_suite.gate failed" in r.stderr
    names = [n for n, _ in calls]
    assert "set_weights" not in names and names[-1] == "abort"


def test_a_native_rollout_is_handed_to_the_platform(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    TestProvider.hooks["rollout.capabilities"] = lambda _req, _default: RolloutCapabilities(
        mode="native", can_observe=True)
    _first_apply(tmp_project)
    write(tmp_project, "m-v2.onnx")
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    names = [n for n, _ in calls]
    assert names == ["stage", "run_native", "finish"]
    native = calls[1][1]
    assert (native.strategy, native.steps, native.bake_seconds) == ("canary", (10, 50, 100), 0.3)
    assert [s["percent"] for s in _rollout_record(tmp_project)["steps"]] == [10, 50, 100]


def _at(text: str, needle: str, offset: int = 0) -> str:
    """``main.mlf.hcl:LINE:COL`` of ``needle`` (plus ``offset`` columns) in ``text``."""
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"main.mlf.hcl:{i}:{line.index(needle) + offset + 1}"
    raise AssertionError(needle)


def test_a_rollout_the_provider_cannot_do_fails_at_plan(tmp_project: Project,
                                                         calls: list[tuple[str, Any]]) -> None:
    extra = "    rollback_when {\n      p99_latency_ms = 50\n    }\n"
    _first_apply(tmp_project, extra=extra)
    TestProvider.hooks["rollout.capabilities"] = lambda _req, _default: RolloutCapabilities(
        strategies=("all_at_once", "blue_green"), can_observe=False)
    write(tmp_project, "m-v2.onnx", extra=extra)
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    text = (tmp_project.path / "main.mlf.hcl").read_text()
    got = {d.summary: d for d in parse_diagnostics(r.stderr) if d.severity == "Error"}
    assert set(got) == {'Rollout strategy "canary" is not supported by provider "testing"',
                        'Provider "testing" cannot observe live traffic'}, r
    strat = got['Rollout strategy "canary" is not supported by provider "testing"']
    assert strat.location == _at(text, '"canary"')
    assert strat.detail == ('The testing provider rolls out with "all_at_once", "blue_green" only (it cannot '
                            'split traffic between two versions). Use one of those strategies.')
    obs = got['Provider "testing" cannot observe live traffic']
    assert obs.location == _at(text, "rollback_when {")
    assert "rollback_when sets p99_latency_ms" in obs.detail and "Remove rollback_when" in obs.detail
    assert calls == []  # refused before anything was staged


def test_a_provider_without_rollouts_fails_at_plan_at_the_rollout_block(
        tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    _first_apply(tmp_project)
    TestProvider.hooks["rollouts"] = lambda _prov, _default: None
    write(tmp_project, "m-v2.onnx")
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == 'Provider "testing" cannot roll out a new version'
    assert d.location == _at((tmp_project.path / "main.mlf.hcl").read_text(), "rollout {")
