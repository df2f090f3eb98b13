"""What an apply killed during a provider call leaves, and what the next run does with it.

The files on disk while a provider call runs are what a kill -9 at that moment leaves: the
tests copy them (state, journal, the testing provider's objects) into another directory and
run mlform there. Same configuration as test_apply_outcomes.py.
"""

from __future__ import annotations

import json
from typing import Any

from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project
from tests.integration.apply.test_apply_outcomes import _only, _resource, write


def test_the_start_of_an_apply_is_recorded_before_any_provider_call(tmp_project: Project) -> None:
    """What a kill -9 during the first provider call leaves: the files on disk at that moment."""
    snap: list[dict[str, bytes]] = []

    def look(req: Any, default: Any) -> Any:
        if not snap:
            snap.append({f.name: f.read_bytes() for f in tmp_project.path.glob("mlform.state.json*")
                         if not f.name.endswith(".lock")})
        return default(req)

    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    TestProvider.hooks["apply_change"] = look
    write(tmp_project, replicas=3)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    crashed = Project(tmp_project.path / "crashed")
    crashed.path.mkdir()
    for name, data in snap[0].items():
        (crashed.path / name).write_bytes(data)
    pulled = crashed.run("state", "pull")
    assert pulled.exit_code == 0, pulled
    hist = json.loads(pulled.stdout)["history"]
    assert len(hist) == 2 and hist[-1]["outcome"] == "in_progress" and hist[-1]["operation"] == "apply", hist


def test_an_interrupted_delete_whose_object_cannot_be_read_is_kept_for_the_next_run(tmp_project: Project) -> None:
    """The files on disk during a delete (what a kill -9 then leaves), and a next run that cannot look."""
    write(tmp_project)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    snap: list[dict[str, bytes]] = []

    def look(req: Any, default: Any) -> Any:
        if not snap:
            snap.append({str(f.relative_to(tmp_project.path)): f.read_bytes() for f in
                         [*tmp_project.path.glob("mlform.state.json*"), tmp_project.path / ".mlform/testing-objects.json"]
                         if not f.name.endswith(".lock")})
        return default(req)

    TestProvider.hooks["apply_change"] = _only("endpoint.b", "delete", look)
    assert tmp_project.run("destroy", "--auto-approve").exit_code == 0
    crashed = Project(tmp_project.path / "crashed")
    crashed.path.mkdir()
    (crashed.path / ".mlform").mkdir()
    for name, data in snap[0].items():
        (crashed.path / name).write_bytes(data)
    write(crashed)
    TestProvider.hooks.clear()

    def unreadable(req: Any, default: Any) -> Any:
        from mlform.engine.providers.protocol import ReadResponse
        r = ReadResponse(state=None)
        r.diagnostics.error("Endpoint API unavailable", "HTTP 503 from the control plane.")
        return r

    TestProvider.hooks["read"] = unreadable
    r = crashed.run("apply", "--auto-approve", "--refresh=false")
    assert "Endpoint API unavailable" in r.stderr, r
    assert r.exit_code == 1, r
    TestProvider.hooks.clear()
    r = crashed.run("apply", "--auto-approve")  # it can look now: the interrupted delete is resolved
    assert r.exit_code == 0, r
    assert "endpoint.b: removed from state: an interrupted run had destroyed it" not in r.stdout  # it had not
    assert _resource(crashed, "endpoint.b") is not None
