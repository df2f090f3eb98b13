"""What a rollout leaves when its apply is killed, and how the next apply resolves it.

The files on disk during a bake are what a kill -9 at that moment leaves (copied, then read by
``mlform state pull`` in another directory); a history record an earlier apply left
``in_progress`` is marked ``interrupted`` by the next rollout of the same endpoint, with what
the provider undid. Same setup as test_rollout_controller.py (the testing provider's rollout
driver, the CLI in this process).
"""

from __future__ import annotations

import json
from typing import Any

from mlform.engine.providers.rollout import ObserveResult, StageResult
from mlform.providers.testing import TestProvider
from mlform.providers.testing.rollout import served_version
from tests.fixtures.project import Project
from tests.integration.core.test_rollout_controller import (  # noqa: F401  (calls is a fixture)
    _apply, _endpoint, _roll_out, calls, write,
)


# -- what a run killed mid-rollout leaves, and the next apply's resolution ----------------------

def _disk(p: Project) -> dict[str, bytes]:
    """The state files as they are on disk right now: what a kill -9 at this moment would leave."""
    return {f.name: f.read_bytes() for f in p.path.glob("mlform.state.json*") if not f.name.endswith(".lock")}


def test_a_run_killed_during_a_bake_has_recorded_the_step_it_was_at(tmp_project: Project,
                                                                    calls: list[tuple[str, Any]]) -> None:
    at_bake: list[dict[str, bytes]] = []

    def observe(req: Any, default: Any) -> ObserveResult:
        pct = [r for n, r in calls if n == "set_weights"][-1].weights[req.version_id]
        if pct == 50 and not at_bake:
            at_bake.append(_disk(tmp_project))
        result: ObserveResult = default(req)
        return result

    TestProvider.hooks["test.observe"] = observe
    r, _old = _roll_out(tmp_project)
    assert r.exit_code == 0, r
    (files,) = at_bake
    crashed = Project(tmp_project.path / "crashed")
    crashed.path.mkdir()
    for name, data in files.items():
        (crashed.path / name).write_bytes(data)
    pulled = crashed.run("state", "pull")
    assert pulled.exit_code == 0, pulled
    rec = json.loads(pulled.stdout)["history"][-1]["rollouts"][0]
    assert rec["outcome"] == "in_progress"
    assert [s["percent"] for s in rec["steps"]] == [10, 50], rec  # the step baking when it was killed


def test_a_rollout_a_killed_apply_left_in_progress_is_resolved_by_the_next(tmp_project: Project,
                                                                           calls: list[tuple[str, Any]]) -> None:
    from mlform.engine.providers.rollout import Interrupted

    write(tmp_project)
    assert _apply(tmp_project).exit_code == 0
    doc = json.loads(tmp_project.run("state", "pull").stdout)
    killed = {**doc["history"][-1], "id": "killed-apply", "outcome": "in_progress", "rollouts": [
        {"address": "endpoint.e", "strategy": "canary", "version": "v-half", "outcome": "in_progress",
         "steps": [{"percent": 10}]}]}
    doc["history"].append(killed)
    doc["serial"] += 1
    tmp_project.write("killed.json", json.dumps(doc))
    assert tmp_project.run("state", "push", "killed.json").exit_code == 0
    old = served_version(_endpoint(tmp_project))

    def stage(req: Any, default: Any) -> StageResult:
        res: StageResult = default(req)
        res.interrupted = Interrupted("v-half", 10.0, old)  # what the provider found and undid
        return res

    TestProvider.hooks["test.stage"] = stage
    write(tmp_project, "m-v2.onnx")
    r = _apply(tmp_project)
    assert r.exit_code == 0, r
    history = tmp_project.state()["history"]
    (stale,) = [h for h in history if h["id"] == "killed-apply"]
    current = history[-1]
    assert stale["outcome"] == "failed"
    assert stale["rollouts"][0] | {"resolved": None} == {
        **killed["rollouts"][0], "outcome": "interrupted", "resolved_by": current["id"], "resolved": None,
        "resolution": f"rolled back to {old}"}
    assert current["rollouts"][0]["recovered"] == {"version": "v-half", "percent": 10.0, "rolled_back_to": old}
    assert current["rollouts"][0]["outcome"] == "completed"


def test_a_stale_rollout_with_nothing_left_to_undo_says_so(tmp_project: Project,
                                                           calls: list[tuple[str, Any]]) -> None:
    write(tmp_project)
    assert _apply(tmp_project).exit_code == 0
    doc = json.loads(tmp_project.run("state", "pull").stdout)
    doc["history"].append({**doc["history"][-1], "id": "killed-apply", "outcome": "partial", "rollouts": [
        {"address": "endpoint.e", "version": "v-half", "outcome": "in_progress", "steps": []},
        {"address": "endpoint.other", "version": "v-x", "outcome": "in_progress", "steps": []}]})
    doc["serial"] += 1
    tmp_project.write("killed.json", json.dumps(doc))
    assert tmp_project.run("state", "push", "killed.json").exit_code == 0
    write(tmp_project, "m-v2.onnx")
    assert _apply(tmp_project).exit_code == 0
    (stale,) = [h for h in tmp_project.state()["history"] if h["id"] == "killed-apply"]
    assert stale["outcome"] == "partial"  # only an apply still in progress becomes failed
    mine, other = stale["rollouts"]
    assert (mine["outcome"], mine["resolution"]) == ("interrupted", "nothing was left to undo")
    assert other["outcome"] == "in_progress" and "recovered" not in tmp_project.state()["history"][-1]["rollouts"][0]
