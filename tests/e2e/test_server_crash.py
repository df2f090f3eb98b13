"""A local model server that crashes (kill -9 of the server process, outside mlform) is
restarted by its supervisor on the same URL, which refresh and state show report; one
that keeps crashing is given up and the next apply replaces it; one that dies during a
rollout's bake makes the rollout roll back. Real servers, real signals, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.rollout_support import CLI, ROW, copy_quickstart, digest_of, endpoint, info, mlform, set_rollout, vid

pytestmark = pytest.mark.slow
V2 = "model_file=models/sentiment-v2.onnx"


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def _status(proj: Path) -> dict[str, Any]:
    return json.loads((proj / ".mlform" / "servers" / "sentiment" / "status.json").read_text())


def _wait(cond: Any, what: str, timeout: float = 120) -> Any:
    """Poll ``cond()`` until truthy; the timeout only ends a hung test (no timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _answers(url: str) -> bool:
    try:
        return httpx.post(url, json=ROW, timeout=5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def _kill_server(proj: Path) -> int:
    """SIGKILL the server process itself (not its supervisor); its pid."""
    pid = int(_status(proj)["server_pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def _restarted(proj: Path, killed: int, count: int) -> bool:
    st = _status(proj)
    return st.get("state") == "running" and st.get("server_pid") != killed and st.get("restarts") == count


def _warnings(text: str) -> list[str]:
    return [ln.split("Warning: ", 1)[1].strip() for ln in text.splitlines() if "Warning: " in ln]


def test_a_killed_server_is_restarted_and_reported(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    assert _answers(url)
    killed = _kill_server(quickstart)
    _wait(lambda: _restarted(quickstart, killed, 1) and _answers(url), "the restarted server to answer")
    assert info(quickstart)["pid"] != killed  # another process, on the same URL

    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr  # nothing to apply: the server is back
    assert "The server of endpoint.sentiment restarted 1 time (last exit: signal 9)" in _warnings(r.stderr), \
        r.stderr
    r = mlform(quickstart, "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "The server of endpoint.sentiment restarted 1 time (last exit: signal 9)" in _warnings(r.stderr)
    assert "same port" in r.stderr and "server.log" in r.stderr
    shown = mlform(quickstart, "state", "show", "endpoint.sentiment").stdout
    assert "restarts" in shown and any(ln.split() == ["restarts", "=", "1"] for ln in shown.splitlines()), shown
    r = mlform(quickstart, "refresh")  # already recorded: no new warning
    assert not any("restarted" in w for w in _warnings(r.stderr)), r.stderr

    killed = _kill_server(quickstart)
    _wait(lambda: _restarted(quickstart, killed, 2) and _answers(url), "the second restart")
    r = mlform(quickstart, "refresh")
    assert "The server of endpoint.sentiment restarted 2 times (last exit: signal 9)" in _warnings(r.stderr)
    assert endpoint(quickstart)["attributes"]["restarts"] == 2

    supervisor, server = endpoint(quickstart)["private"]["pid"], _status(quickstart)["server_pid"]
    assert mlform(quickstart, "destroy", "--auto-approve").returncode == 0
    for pid in (supervisor, server):  # destroy stops both, and nothing restarts the server
        _wait(lambda: not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z",
              f"pid {pid} to exit")
    assert not _answers(url)


def test_a_server_that_keeps_crashing_is_given_up_and_replaced(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    supervisor = endpoint(quickstart)["private"]["pid"]
    for n in range(1, 6):
        killed = _kill_server(quickstart)
        _wait(lambda: _restarted(quickstart, killed, n), f"restart {n}")
    _kill_server(quickstart)
    _wait(lambda: _status(quickstart).get("state") == "failed", "the supervisor to give up")

    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "endpoint.sentiment has been deleted" in r.stdout, r.stdout
    assert "The server of endpoint.sentiment crashed and its supervisor gave up" in _warnings(r.stderr), r.stderr
    assert "restarted 5 times (last exit: signal 9)" in r.stderr and "gave up after 5 restarts in 60s" in r.stderr

    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert endpoint(quickstart)["private"]["pid"] != supervisor
    assert _answers(mlform(quickstart, "output", "--raw", "infer_url").stdout)
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0


def test_a_server_killed_during_the_bake_rolls_the_rollout_back(quickstart: Path) -> None:
    set_rollout(quickstart, bake_seconds="60")
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    proc = subprocess.Popen([*CLI, "apply", "--auto-approve", "--var", V2], cwd=quickstart, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: round(info(quickstart)["weights"].get(new, 0)) == 10, "10% on the new version")
        _kill_server(quickstart)
        out, _ = proc.communicate(timeout=180)  # the 60 s bake is not waited out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, out
    assert "Rollout of endpoint.sentiment was rolled back" in out, out
    assert "crashed during the bake" in out or "Could not observe endpoint.sentiment" in out, out
    assert f"All traffic is back on the previous version ({old})" in out, out
    # The restarted server serves the last fully promoted version, all traffic on it.
    got = info(quickstart)
    assert got["weights"] == {old: 100.0} and got["digests"] == {old: digest_of("sentiment-v1")}
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == digest_of("sentiment-v1")
    assert _answers(url)
    hist = json.loads(mlform(quickstart, "state", "pull").stdout)["history"][-1]["rollouts"][0]
    assert hist["outcome"] == "rolled_back", hist


def test_a_restart_after_a_rollout_serves_the_promoted_version(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    r = mlform(quickstart, "apply", "--auto-approve", "--var", V2)
    assert r.returncode == 0, r.stdout + r.stderr
    new = vid(digest_of("sentiment-v2"))
    killed = _kill_server(quickstart)
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    _wait(lambda: _restarted(quickstart, killed, 1) and _answers(url), "the restarted server to answer")
    got = info(quickstart)
    assert got["weights"] == {new: 100.0} and got["digests"] == {new: digest_of("sentiment-v2")}
    r = mlform(quickstart, "plan", "--detailed-exitcode", "--var", V2)
    assert r.returncode == 0, r.stdout + r.stderr  # what state records is what serves
