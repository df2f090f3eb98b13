"""A server that died outside mlform (its process and its supervisor killed, as a
reboot or an OOM kill of the group would), or was started again by hand, is noticed
by refresh and plan, and the next apply starts one it records. (A server killed
alone is restarted by its supervisor: tests/e2e/test_server_crash.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.rollout_support import ROW, copy_quickstart, endpoint, info, mlform, state

pytestmark = pytest.mark.slow


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def test_dead_server_is_noticed_and_restarted(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    pid = endpoint(quickstart)["private"]["pid"]  # the supervisor, leading the server's process group
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "endpoint.sentiment has been deleted" in r.stdout, r.stdout
    assert "+ endpoint \"sentiment\"" in r.stdout or "endpoint.sentiment will be created" in r.stdout

    r = mlform(quickstart, "refresh")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not any(x["address"] == "endpoint.sentiment" for x in state(quickstart)["resources"])

    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert endpoint(quickstart)["private"]["pid"] != pid
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    assert httpx.post(url, json=ROW, timeout=10).status_code == 200
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0


def test_server_restarted_by_hand_is_replaced_by_the_next_apply(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    sdir = quickstart / ".mlform" / "servers" / "sentiment"
    pid = endpoint(quickstart)["private"]["pid"]  # the supervisor, leading the server's process group
    os.killpg(pid, signal.SIGKILL)
    # Someone starts it again from its config file: another pid and port than state records.
    hand = subprocess.Popen([sys.executable, "-m", "mlform.providers.server", "--config",
                             str(sdir / "config.json")], cwd=sdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if info(quickstart)["pid"] == hand.pid:
                    break
            except (httpx.HTTPError, KeyError, ValueError, OSError):
                pass
            time.sleep(0.1)
        r = mlform(quickstart, "plan", "--detailed-exitcode")
        assert r.returncode == 2 and "endpoint.sentiment has been deleted" in r.stdout, r.stdout + r.stderr
        r = mlform(quickstart, "apply", "--auto-approve")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"stopping server sentiment (pid {hand.pid}), which runs but is not in state" in r.stdout
        assert hand.wait(timeout=15) is not None  # stopped by the apply, not left beside the new one
        new = endpoint(quickstart)["private"]["pid"]
        assert new not in (pid, hand.pid) and info(quickstart)["supervisor_pid"] == new  # its supervisor
    finally:
        if hand.poll() is None:
            hand.kill()
            hand.wait()
