"""A server that died outside mlform (its process killed) is noticed by refresh and
plan, and the next apply starts it again; the same URL output changes with it."""

from __future__ import annotations

import os
import signal
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
    pid = info(quickstart)["pid"]
    os.kill(pid, signal.SIGKILL)
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
