"""What a user sees of a rollout's bakes, gates, warnings and interruption (docs/rollouts.md).

The rollout controller (engine/rollout/controller.py) driven through the testing provider's
rollout driver (providers/testing/rollout.py), with the CLI run in this process so that hooks
reach it: the traffic split at each step, the bake lines, the "not judged" warning, the error
after a failed gate and what it records, the error saying whether the model or the prompt needs
fixing, and the count-down a Ctrl-C during a bake gives before it rolls back.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from mlform.engine.providers.protocol import PlanChangeResponse
from mlform.engine.providers.rollout import GateTarget, ObserveResult, RolloutCapabilities, StageResult
from mlform.providers.testing import TestProvider
from mlform.providers.testing.rollout import served_version
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./%(model)s"
}

prompt "p" {
  template  = "%(template)s"
  variables = ["x"]
}

eval_suite "gate" {
  provider = provider.testing
  target   = model.m
  dataset  = "data.jsonl"
  metric "accuracy" { min = 0.5 }
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
%(prompt)s  rollout {
    strategy     = "canary"
    steps        = %(steps)s
    bake_seconds = %(bake)s
%(extra)s  }
}
'''


def write(p: Project, model: str = "m-v1.onnx", *, template: str = "say {{ x }}", prompt: bool = False,
          steps: str = "[10, 50, 100]", bake: str = "0.2", extra: str = "") -> None:
    p.write("main.mlf.hcl", PROJECT % {"model": model, "template": template, "steps": steps, "bake": bake,
                                       "prompt": "  prompt = prompt.p\n" if prompt else "", "extra": extra})


@pytest.fixture
def calls(tmp_project: Project) -> Iterator[list[tuple[str, Any]]]:
    """The rollout calls made, in order; a changed model or prompt of the endpoint is rolled out."""
    seen: list[tuple[str, Any]] = []

    def plan(req: Any, default: Any) -> PlanChangeResponse:
        resp: PlanChangeResponse = default(req)
        prior, planned = req.prior_state, resp.planned_state
        if req.kind == "endpoint" and prior and planned is not None and \
                (prior.get("model"), prior.get("prompt")) != (planned.get("model"), planned.get("prompt")):
            resp.rollout = True
        return resp

    def recording(name: str) -> Any:
        def hook(req: Any, default: Any) -> Any:
            seen.append((name, req))
            override = TestProvider.hooks.get(f"test.{name}")
            return override(req, default) if override else default(req)
        return hook

    TestProvider.hooks["plan_change"] = plan
    for name in ("stage", "set_weights", "verify_weights", "observe", "finish", "abort"):
        TestProvider.hooks[f"rollout.{name}"] = recording(name)
    for name in ("m-v1.onnx", "m-v2.onnx"):
        tmp_project.write(name, name)
    tmp_project.write("data.jsonl", '{"input": [1.0], "expected": 1}\n')
    yield seen


def _apply(p: Project) -> Any:
    return p.run("apply", "--auto-approve")


def _record(p: Project) -> dict[str, Any]:
    return p.state()["history"][-1]["rollouts"][0]  # type: ignore[no-any-return]


def _endpoint(p: Project) -> dict[str, Any]:
    return next(r["attributes"] for r in p.state()["resources"] if r["address"] == "endpoint.e")


def _errors(r: Any) -> list[Any]:
    return [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]


def _roll_out(p: Project, **kw: Any) -> tuple[Any, str]:
    """Apply v1, then v2 with the same settings: (the second apply's result, v1's version)."""
    write(p, **kw)
    assert _apply(p).exit_code == 0
    old = served_version(_endpoint(p))
    write(p, "m-v2.onnx", **kw)
    return _apply(p), old


# -- steps and bakes -----------------------------------------------------------------------------

def test_each_step_bakes_for_bake_seconds_and_the_last_moves_all_traffic(tmp_project: Project,
                                                                         calls: list[tuple[str, Any]]) -> None:
    r, old = _roll_out(tmp_project, steps="[50, 100]", bake="1")
    assert r.exit_code == 0, r
    new = _record(tmp_project)["version"]
    # the old version keeps what the new one does not get; at 100% it has none
    assert [req.weights for n, req in calls if n == "set_weights"] == [{new: 50, old: 50}, {new: 100, old: 0}]
    for where in ("step 1/2 50%", "step 2/2 100%"):
        assert f"{where} bake 1/1s 0 req" in r.stdout, r.stdout  # the bake ran its full second
        assert f"{where} bake 0/0s" not in r.stdout
    assert _endpoint(tmp_project)["traffic"] == {new: 100}


def test_a_bake_the_provider_cannot_observe_only_waits_and_says_so(tmp_project: Project,
                                                                   calls: list[tuple[str, Any]]) -> None:
    TestProvider.hooks["rollout.capabilities"] = lambda _r, _d: RolloutCapabilities(can_observe=False)
    r, old = _roll_out(tmp_project, steps="[50, 100]", bake="1")
    assert r.exit_code == 0, r
    assert "step 1/2 50% bake 0/1s (not observed)" in r.stdout, r.stdout
    assert "step 2/2 100% bake 0/1s (not observed)" in r.stdout, r.stdout
    assert "observe" not in [n for n, _ in calls]
    assert _record(tmp_project)["outcome"] == "completed"


def test_bakes_below_min_requests_complete_with_a_warning_naming_them(tmp_project: Project,
                                                                      calls: list[tuple[str, Any]]) -> None:
    TestProvider.hooks["test.observe"] = lambda req, default: ObserveResult(1, 1, 1.0, 1.0, 2.0, 3.0)
    extra = "    rollback_when {\n      error_rate   = 0.01\n      min_requests = 2\n    }\n"
    r, _old = _roll_out(tmp_project, extra=extra)
    assert r.exit_code == 0, r  # one request at 100% errors: below min_requests, never judged
    new = _record(tmp_project)["version"]
    (w,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Warning"]
    assert w.summary == "Rollout of endpoint.e was not judged on live traffic"
    assert w.detail == (f"The bakes at 10%, 50%, 100% saw fewer than rollback_when.min_requests (2) requests on "
                        f"{new}, so rollback_when was not checked there: only the gates vouch for this version. "
                        "Send traffic during the bakes or lower min_requests to have a rollout watched.")
    assert [s["judged"] for s in _record(tmp_project)["steps"]] == [False, False, False]


def test_one_unjudged_bake_at_the_default_min_requests(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    def observe(req: Any, default: Any) -> ObserveResult:
        n = 0 if [r for name, r in calls if name == "set_weights"][-1].weights[req.version_id] == 50 else 10
        return ObserveResult(n, 0, 0.0, 1.0, 2.0, 3.0)

    TestProvider.hooks["test.observe"] = observe
    r, _old = _roll_out(tmp_project, extra="    rollback_when {\n      error_rate = 0.5\n    }\n")
    assert r.exit_code == 0, r
    (w,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Warning"]
    assert w.detail.startswith("The bake at 50% saw fewer than rollback_when.min_requests (1) requests"), w
    assert w.detail.endswith("Send traffic during the bakes to have a rollout watched."), w
    assert [s["judged"] for s in _record(tmp_project)["steps"]] == [True, False, True]


def test_judged_bakes_give_no_warning(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    TestProvider.hooks["test.observe"] = lambda req, default: ObserveResult(10, 0, 0.0, 1.0, 2.0, 3.0)
    r, _old = _roll_out(tmp_project, extra="    rollback_when {\n      error_rate = 0.5\n    }\n")
    assert r.exit_code == 0, r
    assert "Warning" not in r.stderr, r.stderr


# -- what the error after a rollback says ---------------------------------------------------------

BREACH = "    rollback_when {\n      error_rate = 0.01\n    }\n"


def test_a_new_model_that_breaches_says_fix_the_model(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    TestProvider.hooks["test.observe"] = lambda req, default: ObserveResult(100, 50, 0.5, 1.0, 2.0, 3.0)
    r, old = _roll_out(tmp_project, extra=BREACH)
    assert r.exit_code == 1, r
    new = _record(tmp_project)["version"]
    (d,) = _errors(r)
    assert d.detail == (f"error rate 50.00% exceeded rollback_when.error_rate 1.00% at 10%. All traffic is back on "
                        f"the previous version ({old}); the new version was removed. Fix the model and apply again.")
    assert "rolling back: error rate 50.00%" in r.stdout
    assert new != old and _endpoint(tmp_project)["traffic"] == {old: 100}


def test_a_new_prompt_that_breaches_says_fix_the_prompt(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    write(tmp_project, prompt=True, extra=BREACH)
    assert _apply(tmp_project).exit_code == 0
    TestProvider.hooks["test.observe"] = lambda req, default: ObserveResult(100, 50, 0.5, 1.0, 2.0, 3.0)
    write(tmp_project, prompt=True, template="tell {{ x }}", extra=BREACH)
    r = _apply(tmp_project)
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.summary == "Rollout of endpoint.e was rolled back"
    assert d.detail.endswith("the new version was removed. Fix the prompt and apply again."), d.detail
    rec = _record(tmp_project)
    assert rec["outcome"] == "rolled_back" and rec["from_prompt_version"] != rec["to_prompt_version"]
    assert [s["prompt_version"] for s in rec["steps"]] == [rec["to_prompt_version"]]


# -- gates ---------------------------------------------------------------------------------------

class _V2(BaseHTTPRequestHandler):
    """A V2 model server answering every inference with ``answer`` (or HTTP 503 when None)."""

    answer: int | None = 0

    def _send(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        if self.answer is None:
            return self._send(503, {"error": "not ready"})
        self._send(200, {"name": "m", "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 1]}],
                         "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}]})

    def do_POST(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self._send(200, {"model_name": "m", "outputs": [
            {"name": "label", "datatype": "INT64", "shape": [1], "data": [self.answer]}]})

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def v2_server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _V2)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    _V2.answer = 0


def _gated(p: Project, v2: str, answer: int | None) -> Any:
    extra = "    gates = [eval_suite.gate]\n"
    write(p, extra=extra)
    assert _apply(p).exit_code == 0
    TestProvider.hooks["test.stage"] = lambda req, default: StageResult(
        **{**default(req).__dict__, "target": GateTarget(v2, "m", "staged")})
    _V2.answer = answer
    write(p, "m-v2.onnx", extra=extra)
    return _apply(p)


def test_a_gate_that_passes_is_recorded_and_traffic_moves(tmp_project: Project, calls: list[tuple[str, Any]],
                                                          v2_server: str) -> None:
    r = _gated(tmp_project, v2_server, 1)
    assert r.exit_code == 0, r
    rec = _record(tmp_project)
    assert rec["steps"][0]["gate"] == "eval_suite.gate" and rec["steps"][0]["passed"] is True
    assert [s["percent"] for s in rec["steps"][1:]] == [10, 50, 100]


def test_a_gate_that_fails_is_recorded_failed_and_no_traffic_moves(tmp_project: Project,
                                                                   calls: list[tuple[str, Any]],
                                                                   v2_server: str) -> None:
    r = _gated(tmp_project, v2_server, 0)
    assert r.exit_code == 1, r
    (d,) = _errors(r)
    assert d.detail.startswith("gate eval_suite.gate failed: accuracy"), d.detail
    rec = _record(tmp_project)
    assert rec["outcome"] == "rolled_back"
    assert rec["steps"] == [{**rec["steps"][0], "gate": "eval_suite.gate", "passed": False}]
    assert "set_weights" not in [n for n, _ in calls]


def test_a_gate_that_cannot_run_says_why(tmp_project: Project, calls: list[tuple[str, Any]],
                                         v2_server: str) -> None:
    r = _gated(tmp_project, v2_server, None)
    assert r.exit_code == 1, r
    rolled = [x for x in _errors(r) if x.summary == "Rollout of endpoint.e was rolled back"]
    assert len(rolled) == 1, r.stderr
    assert rolled[0].detail.startswith("gate eval_suite.gate failed: "), rolled[0].detail
    assert "HTTP 503" in rolled[0].detail and "did not run" not in rolled[0].detail, rolled[0].detail
    assert _record(tmp_project)["steps"][0]["passed"] is False


# -- Ctrl-C during a bake --------------------------------------------------------------------------

def test_ctrl_c_in_a_bake_counts_down_then_rolls_back(tmp_project: Project, calls: list[tuple[str, Any]]) -> None:
    sent: list[int] = []

    def observe(req: Any, default: Any) -> ObserveResult:
        if not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # as a user's Ctrl-C reaches mlform
        return ObserveResult(10, 0, 0.0, 1.0, 2.0, 3.0)

    TestProvider.hooks["test.observe"] = observe
    r, old = _roll_out(tmp_project, bake="5")
    assert r.exit_code == 130, r
    lines = [x for x in r.stdout.splitlines() if "interrupted: rolling back" in x]
    assert [x.split(" in ")[1].split("s ")[0] for x in lines] == ["3", "2", "1"], r.stdout
    assert f"rolling back to {old} in 3s (Ctrl-C again: stop now, the next apply rolls back)" in lines[0]
    (d,) = _errors(r)
    assert d.detail.endswith("the new version was removed. Apply again to roll it out."), d.detail
    assert [n for n, _ in calls][-1] == "abort"
    assert [s["percent"] for s in _record(tmp_project)["steps"]] == [10]
    assert _record(tmp_project)["outcome"] == "rolled_back" and _endpoint(tmp_project)["traffic"] == {old: 100}


def test_a_rollout_without_bake_seconds_is_planned_and_run_without_a_bake(tmp_project: Project,
                                                                          calls: list[tuple[str, Any]]) -> None:
    write(tmp_project)
    assert _apply(tmp_project).exit_code == 0
    write(tmp_project, "m-v2.onnx")
    tmp_project.write("main.mlf.hcl", tmp_project.read("main.mlf.hcl").replace("    bake_seconds = 0.2\n", ""))
    r = tmp_project.run("plan")
    assert "# rollout: canary 10% -> 50% -> 100%, bake 0s, gates: none, rollback when: none" in r.stdout, r.stdout
    r = _apply(tmp_project)
    assert r.exit_code == 0, r
    assert "bake 0/0s" in r.stdout and _record(tmp_project)["outcome"] == "completed"
