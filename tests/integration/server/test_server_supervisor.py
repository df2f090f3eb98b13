"""The supervisor a server runs under: a crashed server is restarted on its port with
back-off, gives up after too many restarts, a clean stop is not restarted, and
stopping the supervisor stops its server. Real processes, real signals."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from mlform.providers.local import process
from tests.fixtures.models import INPUT_NAME, N_FEATURES
from mlform.providers.local.process import ServerHandle
from mlform.providers.local.supervisor import LIMIT

pytestmark = pytest.mark.slow


def _status(h: ServerHandle) -> dict[str, Any]:
    return json.loads((Path(h.server_dir) / "status.json").read_text())


def _infer(h: ServerHandle) -> int:
    body = {"inputs": [{"name": INPUT_NAME, "shape": [1, N_FEATURES], "datatype": "FP32",
                        "data": np.zeros(N_FEATURES).tolist()}]}
    try:
        return httpx.post(f"{h.url}/v2/models/{h.name}/infer", json=body, timeout=5, trust_env=False).status_code
    except httpx.HTTPError:
        return 0


def _wait(what: Any, timeout: float = 90.0) -> Any:
    """Poll ``what()`` until it is truthy (no timed assertion: the timeout only ends a hung test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"still not true after {timeout:g}s")


def _serving_again(h: ServerHandle, old_pid: int, count: int) -> bool:
    st = _status(h)
    return bool(st.get("state") == "running" and st.get("server_pid") != old_pid and st.get("restarts") == count
                and _infer(h) == 200)


def _kill_server(h: ServerHandle) -> int:
    pid = int(_status(h)["server_pid"])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_server_is_restarted_on_its_port(launch, classifiers):
    h = launch("crashy", {"v1": classifiers["v1"]})
    assert _infer(h) == 200
    first = _status(h)
    assert first["state"] == "running" and first["restarts"] == 0 and first["pid"] == h.pid
    killed = _kill_server(h)
    _wait(lambda: _serving_again(h, killed, 1))
    st = _status(h)
    assert st["last_exit"] == "signal 9" and st["port"] == h.port and st["pid"] == h.pid
    # the same URL, the same admin token, the same supervisor: state's record is still right
    assert process.server_status(h.url, h.token, h.pid).running
    log = Path(h.log_path).read_text()
    assert "the server exited (signal 9); restarting in 0.5s" in log and "mlform server restart 1" in log


def test_a_server_that_keeps_crashing_is_given_up(launch, classifiers):
    h = launch("doomed", {"v1": classifiers["v1"]})
    for n in range(1, LIMIT + 1):
        killed = _kill_server(h)
        _wait(lambda: _serving_again(h, killed, n))  # back-off 0.5, 1, 2, 4, 8 s between them
    _kill_server(h)
    _wait(lambda: not process.pid_alive(h.pid))  # the supervisor exits once it gives up
    st = _status(h)
    assert st["state"] == "failed" and st["restarts"] == LIMIT
    assert st["error"] == f"gave up after {LIMIT} restarts in 60s (last exit: signal 9)"
    assert not process.server_status(h.url, h.token, h.pid).running
    assert "giving up" in Path(h.log_path).read_text()


def test_a_clean_exit_is_not_restarted_and_stop_ends_both(launch, classifiers):
    h = launch("clean", {"v1": classifiers["v1"]})
    server_pid = int(_status(h)["server_pid"])
    os.kill(server_pid, signal.SIGTERM)  # the server exits 0: a stop, not a crash
    _wait(lambda: not process.pid_alive(h.pid))
    assert _status(h)["restarts"] == 0
    h2 = launch("stopped", {"v1": classifiers["v1"]})
    server_pid = int(_status(h2)["server_pid"])
    assert process.stop_server(h2)
    assert not process.pid_alive(server_pid) and not process.pid_alive(h2.pid)


def test_the_server_dies_with_its_supervisor(launch, classifiers):
    h = launch("orphaned", {"v1": classifiers["v1"]})
    server_pid = int(_status(h)["server_pid"])
    os.kill(h.pid, signal.SIGKILL)
    _wait(lambda: not process.pid_alive(server_pid), timeout=30)
