"""Ctrl-C / SIGTERM sent to a real ``mlform apply`` in the middle of a canary bake
(the quickstart on the local provider, v1 serving, v2 rolling out under live traffic).

Once: the rollout is rolled back to the last fully promoted version (v1), said
so with a count-down, recorded in history, the command exits 128 + signal and
the lock is free. Twice: the process stops at once, half-way, and the next
apply rolls the split back as it does after kill -9.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.e2e.rollout_support import CLI, Load, copy_quickstart, digest_of, endpoint, info, mlform, set_rollout, \
    state, vid

pytestmark = pytest.mark.slow
V2 = "model_file=models/sentiment-v2.onnx"


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    set_rollout(proj, bake_seconds="60")
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def _wait(cond: Callable[[], Any], what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _apply_v2_until_baking(proj: Path, new: str) -> tuple[subprocess.Popen[str], Path]:
    log = proj / "apply.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*CLI, "apply", "--auto-approve", "--var", V2], cwd=proj, stdout=fh,
                                stderr=subprocess.STDOUT, text=True)
    _wait(lambda: round(info(proj)["weights"].get(new, 0)) == 10, "10% on the new version")
    time.sleep(0.5)  # inside the 60 s bake
    return proc, log


def _weights(proj: Path) -> dict[str, int]:
    return {k: round(v) for k, v in info(proj)["weights"].items()}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_signal_rolls_back_and_exits_non_zero(quickstart: Path, sig: signal.Signals) -> None:
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    with Load(url) as load:
        proc, log = _apply_v2_until_baking(quickstart, new)
        t0 = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        took = time.monotonic() - t0
    out = log.read_text()
    assert code == 128 + sig, out
    assert took < 30, f"the 60 s bake was not cut short ({took:.0f} s)"
    assert f"Interrupt received ({sig.name})" in out, out
    assert f"interrupted: rolling back to {old} in 3s" in out and f"rolling back to {old} in 1s" in out, out
    assert "Error: Rollout of endpoint.sentiment was rolled back" in out and "Apply again to roll it out" in out
    assert "Traceback" not in out and "internal error" not in out
    # all traffic back on v1, served without an error while it happened
    assert _weights(quickstart) == {old: 100}
    assert [v["id"] for v in info(quickstart)["versions"]] == [old]
    assert load.errors == [] and load.sent > 20
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == digest_of("sentiment-v1")
    rollout = state(quickstart)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "rolled_back" and rollout["reason"] == "interrupted", rollout
    # the lock is free: the next apply takes it at once and rolls v2 out
    set_rollout(quickstart, bake_seconds="1")
    r = mlform(quickstart, "apply", "--auto-approve", "--var", V2, "--lock-timeout", "0s")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _weights(quickstart) == {new: 100}


def test_two_signals_stop_at_once_and_the_next_apply_rolls_back(quickstart: Path) -> None:
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    proc, log = _apply_v2_until_baking(quickstart, new)
    proc.send_signal(signal.SIGINT)
    _wait(lambda: "rolling back to" in log.read_text(), "the count-down")
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=20)
    out = log.read_text()
    assert code == 130, out
    assert "Second interrupt: stopping now" in out and "Traceback" not in out, out
    # stopped half-way, as after kill -9: the split is still there
    assert _weights(quickstart) == {old: 90, new: 10}
    r = mlform(quickstart, "apply", "--auto-approve", "--lock-timeout", "0s")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"endpoint.sentiment: rollout of {new} was interrupted at 10%; rolling back to {old}" in r.stdout
    assert _weights(quickstart) == {old: 100}
    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr
