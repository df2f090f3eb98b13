"""Process management: detached servers, status, stop, and startup failures."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mlform.providers.local import process
from mlform.providers.local.process import ServerHandle, ServerStartError
from mlform.providers.server.config import VersionSpec

LAUNCHER = """
import json, sys
from mlform.providers.local.process import start_server
from mlform.providers.server.config import VersionSpec
h = start_server("detached", sys.argv[1], [VersionSpec("v1", sys.argv[2])], gpus="none")
print(json.dumps(h.to_json()))
"""


def test_server_outlives_the_process_that_started_it(tmp_path, classifiers):
    out = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", LAUNCHER, str(tmp_path),
                          str(classifiers["v1"].path)],
                         capture_output=True, text=True, timeout=120, check=True)
    h = ServerHandle.from_json(json.loads(out.stdout))
    # Leaving the server running is by design, not a leaked child to warn about at exit.
    assert "ResourceWarning" not in out.stderr, out.stderr
    try:
        # The launcher has exited; the server runs on, in its own session.
        assert os.getsid(h.pid) == h.pid
        st = process.server_status(h.url, h.token, h.pid)
        assert st.running and st.ready and st.versions == ["v1"] and st.device == "cpu"
        assert st.digests == {"v1": classifiers["v1"].digest}
    finally:
        assert process.stop_server(h)
    assert not process.server_status(h.url, h.token, h.pid).running


def test_stop_and_status(launch, classifiers):
    h = launch("stoppable", {"v1": classifiers["v1"]})
    assert process.server_status(h.url, h.token, h.pid).running
    assert process.stop_server(h) is True
    st = process.server_status(h.url, h.token, h.pid)
    assert not st.running and not st.pid_alive and "is not running" in st.message
    assert process.stop_server(h) is False  # already gone
    log = Path(h.log_path).read_text()
    assert "shutdown requested" in log and "stopped" in log


@pytest.fixture(scope="module")
def running(launch, classifiers):
    return launch("running", {"v1": classifiers["v1"]})


def test_status_of_a_process_that_is_not_our_server(running):
    h = running
    st = process.server_status(h.url, h.token, os.getpid())
    # our pid is alive and the URL answers, but the server there is another process
    assert (st.running, st.pid_alive, st.responding) == (False, True, True)
    # h.pid is the supervisor's; the server it runs answers with its own pid
    assert st.message == f"{h.url} is served by pid {h.server_pid}, not {os.getpid()}"
    assert process.server_status(h.url, h.token, h.pid).running  # the real pid is ours
    assert process.server_status(h.url, h.token, h.server_pid).running  # and so is the server's


def test_bad_model_file_fails_fast_with_the_log_tail(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx model")
    with pytest.raises(ServerStartError, match=r"(?s)cannot load ONNX model .*bad\.onnx.*"
                                               r"--- last lines of .*server\.log ---.*"
                                               r"loading version v1"):
        process.start_server("bad", tmp_path, [VersionSpec("v1", str(bad))], gpus="none")


def test_missing_model_file(tmp_path):
    with pytest.raises(ServerStartError, match="cannot read model file .*missing.onnx"):
        process.start_server("missing", tmp_path, [VersionSpec("v1", str(tmp_path / "missing.onnx"))],
                             gpus="none")


def test_port_in_use(tmp_path, classifiers):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        with pytest.raises(ServerStartError,
                           match=f"127.0.0.1:{port} is already in use by pid {os.getpid()}"):
            process.start_server("busy", tmp_path, [VersionSpec("v1", str(classifiers["v1"].path))],
                                 gpus="none", port=port)


def test_second_start_of_a_running_server_is_refused(running, classifiers):
    h = running
    work = os.path.dirname(os.path.dirname(h.server_dir))
    with pytest.raises(ServerStartError, match=f"'running' already runs \\(pid {h.pid}"):
        process.start_server("running", work, [VersionSpec("v1", str(classifiers["v1"].path))])


def test_config_file_is_private(running):
    h = running
    assert os.stat(h.config_path).st_mode & 0o077 == 0
    assert json.loads(Path(h.config_path).read_text())["token"] == h.token


def test_timeout_kills_the_half_started_server(tmp_path, classifiers):
    with pytest.raises(ServerStartError, match="not ready after 0.01s \\(the process was killed\\)"):
        process.start_server("slow", tmp_path, [VersionSpec("v1", str(classifiers["v1"].path))],
                             gpus="none", timeout=0.01)
    status = tmp_path / "servers" / "slow" / "status.json"
    pid = json.loads(status.read_text())["pid"] if status.exists() else None
    assert pid is None or not process.pid_alive(pid)


def test_relative_work_dir(tmp_path, classifiers, monkeypatch):
    monkeypatch.chdir(tmp_path)
    h = process.start_server("rel", ".mlform", [VersionSpec("v1", str(classifiers["v1"].path))],
                             gpus="none")
    try:
        assert os.path.isabs(h.config_path) and h.log_path.startswith(str(tmp_path))
        assert process.server_status(h.url, h.token, h.pid).running
    finally:
        assert process.stop_server(h)
