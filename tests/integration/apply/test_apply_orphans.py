"""Orphan recovery as a user sees it: objects an apply killed during its provider calls left behind.

The files on disk while the provider calls run are what a kill -9 at that moment leaves: the
tests copy them (state, journal, the testing provider's objects) into another directory and
run mlform there, as test_apply_killed.py does. Failures of the next run's look-ups are
injected into the real testing provider (monkeypatch), the rest of the run is real.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from mlform.engine.providers.protocol import ConfigureResponse, FindOrphansResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

TWO = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "c" {
  provider = provider.testing
  model    = model.m
}

endpoint "d" {
  provider = provider.testing
  model    = model.m
}
'''


def _files(p: Project) -> dict[str, bytes]:
    paths = [*p.path.glob("mlform.state.json*"), p.path / ".mlform/testing-objects.json"]
    return {str(f.relative_to(p.path)): f.read_bytes() for f in paths if f.exists() and not f.name.endswith(".lock")}


def _crashed(p: Project, files: dict[str, bytes], config: str) -> Project:
    crashed = Project(p.path / "crashed")
    (crashed.path / ".mlform").mkdir(parents=True)
    for name, data in files.items():
        (crashed.path / name).write_bytes(data)
    crashed.write_files({"m.onnx": "weights", "main.mlf.hcl": config})
    return crashed


def _objects(p: Project) -> list[str]:
    """The addresses of the testing provider's remote objects (one per object)."""
    objs = json.loads((p.path / ".mlform/testing-objects.json").read_text())
    return sorted(o["address"] for o in objs.values())


def _killed_with_two_creates_in_flight(p: Project) -> dict[str, bytes]:
    """Both endpoints created by the provider, neither recorded: what a kill -9 then leaves."""
    both = threading.Barrier(2, timeout=30)
    snap: list[dict[str, bytes]] = []
    once = threading.Lock()

    def hold(req: Any, default: Any) -> Any:
        resp = default(req)
        if req.kind == "endpoint" and req.action == "create":
            both.wait()
            with once:
                if not snap:
                    snap.append(_files(p))
        return resp

    p.write_files({"m.onnx": "weights", "main.mlf.hcl": TWO})
    TestProvider.hooks["apply_change"] = hold
    assert p.run("apply", "--auto-approve").exit_code == 0
    TestProvider.hooks.clear()
    return snap[0]


def test_a_failed_look_up_for_one_orphan_does_not_stop_the_others_being_adopted(
        tmp_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    crashed = _crashed(tmp_project, _killed_with_two_creates_in_flight(tmp_project), TWO)
    assert _objects(crashed) == ["endpoint.c", "endpoint.d", "model.m"]
    asked: list[str] = []
    real = TestProvider.find_orphans

    def first_fails(self: TestProvider, req: Any) -> FindOrphansResponse:
        asked.append(req.address)
        if len(asked) == 1:
            r = FindOrphansResponse(state=None)
            r.diagnostics.error("Endpoint API unavailable", "HTTP 503 from the control plane.")
            return r
        return real(self, req)

    monkeypatch.setattr(TestProvider, "find_orphans", first_fails)
    r = crashed.run("apply", "--auto-approve")
    assert sorted(asked) == ["endpoint.c", "endpoint.d"], asked  # both looked up, the failure first
    other = asked[1]
    assert f"{other}: adopted an object left by an interrupted run" in r.stdout, r
    assert "Endpoint API unavailable" in r.stderr, r
    assert r.exit_code == 1, r
    addresses = [x["address"] for x in crashed.state()["resources"]]
    assert other in addresses and asked[0] not in addresses, addresses
    monkeypatch.setattr(TestProvider, "find_orphans", real)
    r = crashed.run("apply", "--auto-approve")  # it can look now: the other one is adopted, not created again
    assert r.exit_code == 0, r
    assert f"{asked[0]}: adopted an object left by an interrupted run" in r.stdout, r
    assert _objects(crashed) == ["endpoint.c", "endpoint.d", "model.m"]  # one object each
    assert sorted(x["address"] for x in crashed.state()["resources"]) == ["endpoint.c", "endpoint.d", "model.m"]


def test_an_orphan_whose_provider_cannot_be_configured_is_reported_and_kept(
        tmp_project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed during the first create; the configuration then uses no resource, but the intent needs its provider."""
    snap: list[dict[str, bytes]] = []

    def look(req: Any, default: Any) -> Any:
        resp = default(req)
        if not snap:
            snap.append(_files(tmp_project))
        return resp

    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": TWO})
    TestProvider.hooks["apply_change"] = look
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    TestProvider.hooks.clear()
    crashed = _crashed(tmp_project, snap[0], 'variable "unused" {\n  default = 1\n}\n')
    assert _objects(crashed) == ["model.m"]

    def refused(self: TestProvider, req: Any) -> ConfigureResponse:
        r = ConfigureResponse()
        r.diagnostics.error("Invalid provider credentials", "The token has expired.")
        return r

    monkeypatch.setattr(TestProvider, "configure", refused)
    r = crashed.run("apply", "--auto-approve")
    errors = [x.summary for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert "Invalid provider credentials" in errors, r
    assert r.exit_code == 1, r
    assert "adopted" not in r.stdout, r
    monkeypatch.undo()
    r = crashed.run("apply", "--auto-approve")  # the intent was kept: adopted now, then destroyed (not configured)
    assert r.exit_code == 0, r
    assert "model.m: adopted an object left by an interrupted run" in r.stdout, r
    assert _objects(crashed) == [] and crashed.state()["resources"] == []
