"""The local provider's endpoint settings do what they say, through the CLI on a copy
of the quickstart: ``port`` (the server listens there; a port taken, by another
program, another project's endpoint or a second endpoint of the configuration, is
an error at the attribute naming who holds it), ``environment`` (in the server
process's environment, never in output, logs or state), ``max_request_size`` and
``max_in_flight`` (enforced by the server; bad values refused at file:line:col).
A change to any of them replaces the server, as the plan says."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.e2e.rollout_support import ROW, copy_quickstart, endpoint, endpoint_settings, free_port, mlform
from tests.fixtures.project import RenderedDiagnostic, parse_diagnostics

pytestmark = pytest.mark.slow

SECRET = "s3cr3t-token-value"




def _at(proj: Path, needle: str) -> str:
    for n, line in enumerate((proj / "main.mlf.hcl").read_text().splitlines(), 1):
        if needle in line:
            return f"main.mlf.hcl:{n}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def _errors(r: subprocess.CompletedProcess[str]) -> list[RenderedDiagnostic]:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]


def _warnings(r: subprocess.CompletedProcess[str]) -> list[RenderedDiagnostic]:
    return [d for d in parse_diagnostics(r.stdout + "\n" + r.stderr) if d.severity == "Warning"]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(x.decode().split("=", 1) for x in raw if b"=" in x)


def _refused(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/v2/health/live", timeout=2)
    except httpx.ConnectError:
        return True
    return False


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Path]:
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def test_port_environment_and_limits_are_what_the_server_runs_with(quickstart: Path) -> None:
    port = free_port()
    endpoint_settings(quickstart, f'''  port             = {port}
  max_request_size = 4096
  max_in_flight    = 8
  environment      = {{ OMP_NUM_THREADS = "2", API_TOKEN = "{SECRET}" }}
''')
    r = mlform(quickstart, "plan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'+ url = "http://127.0.0.1:{port}"' in " ".join(r.stdout.split()), r.stdout  # known at plan
    assert "environment = (sensitive value)" in " ".join(r.stdout.split()) and SECRET not in r.stdout
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert SECRET not in r.stdout + r.stderr

    infer = f"http://127.0.0.1:{port}/v2/models/sentiment/infer"
    assert mlform(quickstart, "output", "--raw", "infer_url").stdout == infer
    assert httpx.post(infer, json=ROW, timeout=10).status_code == 200
    big = httpx.post(infer, content=b" " * 5000, headers={"Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413, big.text
    under = b" " * 3000 + json.dumps(ROW).encode()  # just under the limit: served
    assert len(under) < 4096 and httpx.post(infer, content=under, timeout=10).status_code == 200

    ep = endpoint(quickstart)
    pid = ep["private"]["pid"]
    env = _environ(pid)
    assert env["OMP_NUM_THREADS"] == "2" and env["API_TOKEN"] == SECRET
    assert ["environment"] in ep["sensitive_paths"]
    sdir = quickstart / ".mlform" / "servers" / "sentiment"
    for f in [quickstart / "mlform.state.json", *sdir.iterdir()]:
        assert SECRET.encode() not in f.read_bytes(), f  # state, server log, config, adopt file
    assert "API_TOKEN" in (sdir / "server.log").read_text()  # the names are logged, for the user
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0, "the same settings: no change"

    # Each is read at start, so a change replaces the server, and the plan says so.
    new_port = free_port()
    endpoint_settings(quickstart, f'''  port             = {new_port}
  max_request_size = 4096
  max_in_flight    = 8
  environment      = {{ OMP_NUM_THREADS = "1", API_TOKEN = "{SECRET}" }}
''')
    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "endpoint.sentiment must be replaced" in r.stdout, r.stdout
    flat = " ".join(r.stdout.split())
    assert f"~ port = {port} -> {new_port} # forces replacement" in flat, r.stdout
    assert "~ environment = (sensitive value) # forces replacement" in flat, r.stdout
    assert f'~ url = "http://127.0.0.1:{port}" -> "http://127.0.0.1:{new_port}"' in flat, r.stdout
    assert SECRET not in r.stdout
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert httpx.post(f"http://127.0.0.1:{new_port}/v2/models/sentiment/infer", json=ROW,
                      timeout=10).status_code == 200
    assert _refused(port)
    assert _environ(endpoint(quickstart)["private"]["pid"])["OMP_NUM_THREADS"] == "1"
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0


def test_a_port_held_by_another_program_is_an_error_naming_it(quickstart: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import socket, sys, time\n"
                               "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
                               "print(s.getsockname()[1], flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        port = int(holder.stdout.readline())
        endpoint_settings(quickstart, f"  port = {port}\n")
        r = mlform(quickstart, "apply", "--auto-approve")
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert (e.summary, e.location) == (f"Port {port} is already in use", _at(quickstart, f"{port}")), r.stderr
        assert f"pid {holder.pid} (" in e.detail and "leave port unset" in e.detail, e.detail
        assert not any(x["address"] == "endpoint.sentiment" for x in json.loads(
            (quickstart / "mlform.state.json").read_text())["resources"])
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    r = mlform(quickstart, "apply", "--auto-approve")  # freed: the same configuration now applies
    assert r.returncode == 0, r.stdout + r.stderr
    assert httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=5).status_code == 200


def test_a_port_held_by_another_projects_endpoint_names_that_endpoint(quickstart: Path, tmp_path: Path) -> None:
    port = free_port()
    endpoint_settings(quickstart, f"  port = {port}\n")
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    other = copy_quickstart(tmp_path / "other")
    try:
        endpoint_settings(other, f"  port = {port}\n")
        r = mlform(other, "apply", "--auto-approve")
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert (e.summary, e.location) == (f"Port {port} is already in use", _at(other, f"{port}"))
        pid = endpoint(quickstart)["private"]["pid"]
        assert f"the server of mlform endpoint endpoint.sentiment (pid {pid}, project {quickstart})" in \
            " ".join(e.detail.split()), e.detail
    finally:
        mlform(other, "destroy", "--auto-approve")
    assert httpx.post(f"http://127.0.0.1:{port}/v2/models/sentiment/infer", json=ROW, timeout=10).status_code == 200


def test_two_endpoints_declaring_one_port_is_a_plan_error(quickstart: Path) -> None:
    port = free_port()
    endpoint_settings(quickstart, f"  port = {port}\n")
    cfg = quickstart / "main.mlf.hcl"
    cfg.write_text(cfg.read_text() + f'''
endpoint "second" {{
  model = model.sentiment
  port  = {port}
}}
''')
    r = mlform(quickstart, "plan")
    assert r.returncode == 1, r.stdout + r.stderr
    (e,) = _errors(r)
    assert e.summary == f"Port {port} is declared by two endpoints", r.stderr
    assert "endpoint.sentiment and endpoint.second" in e.detail or "endpoint.second and endpoint.sentiment" in \
        e.detail, e.detail
    at = {f"main.mlf.hcl:{n}:{ln.index(str(port)) + 1}"  # at the value, as Terraform points
          for n, ln in enumerate(cfg.read_text().splitlines(), 1) if re.match(r"\s*port\s*=", ln)}
    assert len(at) == 2 and e.location in at, e.location


@pytest.mark.parametrize("body, attr, summary", [
    ("  port = 70000\n", "port", "Invalid port"),
    ("  max_request_size = 0\n", "max_request_size", "Invalid max_request_size"),
    ("  max_in_flight = 2.5\n", "max_in_flight", "Invalid max_in_flight"),
    ('  environment = { "A=B" = "x" }\n', "environment", "Invalid environment variable name"),
])
def test_bad_settings_are_refused_at_the_attribute(quickstart: Path, body: str, attr: str, summary: str) -> None:
    endpoint_settings(quickstart, body)
    for cmd in ("validate", "plan"):
        r = mlform(quickstart, cmd)
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert e.summary == summary, r.stderr
        assert e.location is not None and e.location.startswith(_at(quickstart, attr).rsplit(":", 1)[0]), \
            (e.location, r.stderr)


def test_refresh_says_the_server_runs_on_another_port_than_recorded(quickstart: Path) -> None:
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    ep = endpoint(quickstart)
    pid, recorded = ep["private"]["pid"], ep["private"]["port"]
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z":
        time.sleep(0.05)
    sdir = quickstart / ".mlform" / "servers" / "sentiment"
    hand = subprocess.Popen([sys.executable, "-m", "mlform.providers.server", "--config",
                             str(sdir / "config.json")], cwd=sdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        status: dict[str, int] = {}
        while time.monotonic() < deadline and status.get("pid") != hand.pid:
            try:
                status = json.loads((sdir / "status.json").read_text())
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        assert status.get("pid") == hand.pid and status["port"] != recorded
        r = mlform(quickstart, "refresh")
        assert r.returncode == 0, r.stdout + r.stderr
        (w,) = [w for w in _warnings(r) if "port" in w.summary]
        assert w.summary == (f"The server of endpoint.sentiment runs on port {status['port']}, "
                             f"not on the recorded port {recorded}"), w
        assert f"pid {hand.pid}" in w.detail and "next apply stops it" in w.detail, w.detail
        r = mlform(quickstart, "apply", "--auto-approve")
        assert r.returncode == 0, r.stdout + r.stderr
        assert hand.wait(timeout=15) is not None  # replaced by one state records
    finally:
        if hand.poll() is None:
            hand.kill()
