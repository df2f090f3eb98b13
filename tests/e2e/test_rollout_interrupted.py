"""An apply killed (SIGKILL, no chance to clean up) in the middle of a rollout, or
between starting a server and recording it, is resolved by the next command:
the half-way split is rolled back to the last fully promoted version and said so;
a server nobody recorded is adopted. Real servers and a real kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.rollout_support import (
    CLI, Load, copy_quickstart, digest_of, endpoint, info, mlform, set_rollout, state, vid,
)

pytestmark = pytest.mark.slow
V2 = "model_file=models/sentiment-v2.onnx"


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def _wait(cond, what: str, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _kill_apply_during_bake(proj: Path, new: str) -> None:
    """Start `mlform apply` of v2 with a long bake; SIGKILL it once 10% of traffic is on v2."""
    log = open(proj / "killed-apply.log", "w")
    proc = subprocess.Popen([*CLI, "apply", "--auto-approve", "--var", V2], cwd=proj, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        _wait(lambda: round(info(proj)["weights"].get(new, 0)) == 10, "10% on the new version")
        time.sleep(0.5)  # well inside the 60 s bake
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()


@pytest.mark.parametrize("then", ["apply-new-again", "revert-config"])
def test_rollout_killed_mid_bake_is_rolled_back_by_the_next_apply(quickstart: Path, then: str) -> None:
    set_rollout(quickstart, bake_seconds="60")
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))

    with Load(url) as load:
        _kill_apply_during_bake(quickstart, new)
        # The server outlives the killed CLI, half-way: both versions, 10% on the new one.
        assert {k: round(v) for k, v in info(quickstart)["weights"].items()} == {old: 90, new: 10}
        # The killed run's journal holds what it recorded; state pull shows it replayed.
        killed = json.loads(mlform(quickstart, "state", "pull").stdout)["history"][-1]["rollouts"][0]
        assert killed["outcome"] == "in_progress" and killed["steps"][-1]["percent"] == 10

        # plan says what happened and what the next apply will do about it.
        r = mlform(quickstart, "plan", *(["--var", V2] if then == "apply-new-again" else []))
        said = r.stdout + r.stderr
        assert f"Warning: Rollout of {new} on endpoint.sentiment was interrupted at 10%" in said, said
        assert f"The next apply rolls back to {old}, the last fully promoted version" in said

        set_rollout(quickstart, bake_seconds="1")
        if then == "apply-new-again":
            r = mlform(quickstart, "apply", "--auto-approve", "--var", V2)
        else:
            r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"endpoint.sentiment: rollout of {new} was interrupted at 10%; rolling back to {old}" in r.stdout
    assert load.errors == [] and load.sent > 50

    served = info(quickstart)
    final = new if then == "apply-new-again" else old
    assert [v["id"] for v in served["versions"]] == [final] and served["weights"] == {final: 100.0}
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == \
        digest_of("sentiment-v2" if then == "apply-new-again" else "sentiment-v1")
    hist = state(quickstart)["history"]
    stale = next(r for h in hist for r in h["rollouts"] if r.get("started") == killed["started"])
    if then == "apply-new-again":
        assert stale["outcome"] == "interrupted" and stale["resolution"] == f"rolled back to {old}"
        redo = hist[-1]["rollouts"][0]
        assert redo["outcome"] == "completed" and redo["recovered"] == \
            {"version": new, "percent": 10, "rolled_back_to": old}
        assert [s["percent"] for s in redo["steps"] if "percent" in s] == [10, 50, 100]
    # Nothing is half-way any more: plan is quiet about it.
    r = mlform(quickstart, "plan", *(["--var", V2] if then == "apply-new-again" else []), "--detailed-exitcode")
    assert "interrupted" not in r.stdout + r.stderr and r.returncode == 0, r.stdout + r.stderr


def test_server_started_but_never_recorded_is_adopted(quickstart: Path) -> None:
    sdir = quickstart / ".mlform" / "servers" / "sentiment"
    log = open(quickstart / "killed-apply.log", "w")
    proc = subprocess.Popen([*CLI, "apply", "--auto-approve"], cwd=quickstart, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "MLFORM_TEST_PAUSE_AFTER_SERVER_START": "60"})
    try:
        _wait(lambda: (sdir / "adopt.json").exists(), "the server to start")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        log.close()
    assert not any(r["address"] == "endpoint.sentiment" for r in state(quickstart)["resources"]) \
        if (quickstart / "mlform.state.json").exists() else True
    served = info(quickstart)
    pid, supervisor = served["pid"], served["supervisor_pid"]

    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "endpoint.sentiment: adopted an object left by an interrupted run" in r.stdout
    # The same server process serves, under the supervisor state records; no second one beside it.
    assert endpoint(quickstart)["private"]["pid"] == supervisor == info(quickstart)["supervisor_pid"]
    assert info(quickstart)["pid"] == pid
    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr
