"""The local provider's ``batching { }`` block and ``grpc_port``, through the CLI on a copy
of the quickstart: batching reaches the server (its config and the batch-size histogram
at /metrics after concurrent requests), a change replaces the server as the plan says;
``grpc_port`` serves the V2 gRPC protocol that ``tritonclient.grpc`` infers against at
the state's ``grpc_url``; bad values, two endpoints on one port and a missing
``mlform[grpc]`` extra are errors at the attribute (file:line:col)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np
import pytest

from tests.e2e.rollout_support import ROW, copy_quickstart, endpoint, endpoint_settings, free_port, mlform
from tests.fixtures.project import RenderedDiagnostic, parse_diagnostics

pytestmark = pytest.mark.slow

OUTPUT = '\noutput "grpc_url" {\n  value = endpoint.sentiment.grpc_url\n}\n'

# Hides the grpc package from a Python started with this folder on PYTHONPATH, as if the
# mlform[grpc] extra were not installed: a meta-path finder, asked first, raises
# ModuleNotFoundError for grpc and its submodules (importlib.util.find_spec too).
HIDE_GRPC = '''import sys


class _HideGrpc:
    def find_spec(self, name, path=None, target=None):
        if name == "grpc" or name.startswith("grpc."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None


sys.meta_path.insert(0, _HideGrpc())
'''




def _at(proj: Path, needle: str, nth: int = 0) -> str:
    """file:line:col of the value after ``needle`` (``name =``), as diagnostics point."""
    hits = [(n, line) for n, line in enumerate((proj / "main.mlf.hcl").read_text().splitlines(), 1)
            if re.match(rf"\s*{re.escape(needle)}\s*=", line)]
    n, line = hits[nth]
    return f"main.mlf.hcl:{n}:{line.index('=') + 3}"


def _errors(r: subprocess.CompletedProcess[str]) -> list[RenderedDiagnostic]:
    assert "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    return [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]


def _histogram(metrics: str, name: str) -> dict[str, float]:
    """``le`` -> cumulative count, and ``sum`` / ``count``, of one histogram (one version)."""
    out: dict[str, float] = {}
    for line in metrics.splitlines():
        m = re.match(rf'{name}_bucket{{.*le="([^"]+)"}} (\S+)$', line)
        if m:
            out[m.group(1)] = float(m.group(2))
        m = re.match(rf"{name}_(sum|count){{.*}} (\S+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Path]:
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def test_batching_reaches_the_server_and_a_change_replaces_it(quickstart: Path) -> None:
    endpoint_settings(quickstart, "  batching {\n    max_batch_size = 4\n    max_delay_ms   = 50\n  }\n")
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    sdir = quickstart / ".mlform" / "servers" / "sentiment"
    assert json.loads((sdir / "config.json").read_text())["batching"] == {"max_batch_size": 4, "max_delay_ms": 50.0}

    url = endpoint(quickstart)["attributes"]["url"]
    requests = 48
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda _: client.post(f"{url}/v2/models/sentiment/infer", json=ROW).status_code,
                              range(requests)))
    assert codes == [200] * requests
    h = _histogram(httpx.get(f"{url}/metrics", timeout=10).text, "mlform_inference_batch_size")
    assert h["sum"] == requests, h  # every request ran in some execution ...
    assert h["count"] < requests, h  # ... and some ran together: the batcher is on
    assert h["4.0"] == h["count"], h  # never more than max_batch_size rows at once
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0, "the same block: no change"

    # The server reads batching at start: a change replaces it, and an empty block means the defaults.
    endpoint_settings(quickstart, "  batching {}\n")
    r = mlform(quickstart, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    flat = " ".join(r.stdout.split())
    assert "endpoint.sentiment must be replaced" in r.stdout
    assert "~ batching = { # forces replacement" in flat and "- max_batch_size = 4 -> null" in flat, r.stdout
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((sdir / "config.json").read_text())["batching"] == {"max_batch_size": 32, "max_delay_ms": 2.0}


def test_grpc_port_serves_tritonclient_grpc_at_grpc_url(quickstart: Path) -> None:
    grpc = pytest.importorskip("tritonclient.grpc")
    port = free_port()
    endpoint_settings(quickstart, f"  grpc_port = {port}\n")
    (quickstart / "main.mlf.hcl").write_text((quickstart / "main.mlf.hcl").read_text() + OUTPUT)
    r = mlform(quickstart, "plan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f'+ grpc_url = "127.0.0.1:{port}"' in " ".join(r.stdout.split()), r.stdout  # known at plan
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr

    grpc_url = mlform(quickstart, "output", "--raw", "grpc_url").stdout
    assert grpc_url == f"127.0.0.1:{port}" == endpoint(quickstart)["attributes"]["grpc_url"]
    shown = mlform(quickstart, "state", "show", "endpoint.sentiment").stdout
    assert f'grpc_url = "127.0.0.1:{port}"' in " ".join(shown.split()), shown
    client = grpc.InferenceServerClient(url=grpc_url)
    try:
        assert client.is_server_live() and client.is_model_ready("sentiment")
        x = np.asarray([ROW["inputs"][0]["data"]], dtype=np.float32)
        inp = grpc.InferInput("features", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        got = client.infer("sentiment", [inp])
        name = got.get_response().outputs[0].name
        http = httpx.post(endpoint(quickstart)["attributes"]["url"] + "/v2/models/sentiment/infer", json=ROW,
                          timeout=10).json()
        want = next(o for o in http["outputs"] if o["name"] == name)["data"]
        np.testing.assert_allclose(got.as_numpy(name).ravel(), want, rtol=1e-6)
    finally:
        client.close()
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0


def test_grpc_port_0_picks_a_free_port_recorded_in_state(quickstart: Path) -> None:
    endpoint_settings(quickstart, "  grpc_port = 0\n")
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    bound = json.loads((quickstart / ".mlform" / "servers" / "sentiment" / "status.json").read_text())["grpc_port"]
    assert bound and endpoint(quickstart)["attributes"]["grpc_url"] == f"127.0.0.1:{bound}"
    with socket.create_connection(("127.0.0.1", bound), timeout=5):
        pass  # listening
    assert mlform(quickstart, "plan", "--detailed-exitcode").returncode == 0


def test_two_endpoints_on_one_grpc_port_fail_the_plan(quickstart: Path) -> None:
    a, b = free_port(), free_port()
    endpoint_settings(quickstart, f"  grpc_port = {a}\n  port      = {b}\n")
    cfg = quickstart / "main.mlf.hcl"
    cfg.write_text(cfg.read_text() + f'''
endpoint "second" {{
  model     = model.sentiment
  grpc_port = {a}
}}

endpoint "third" {{
  model     = model.sentiment
  grpc_port = {b}
}}
''')
    r = mlform(quickstart, "plan")
    assert r.returncode == 1, r.stdout + r.stderr
    errors = {e.summary: e for e in _errors(r)}
    assert set(errors) == {f"Port {a} is declared by two endpoints", f"Port {b} is declared by two endpoints"}, \
        r.stderr
    same = errors[f"Port {a} is declared by two endpoints"]
    assert re.search(rf"endpoint\.(sentiment|second) and endpoint\.(sentiment|second) both declare grpc_port = {a}",
                     " ".join(same.detail.split())), same.detail
    assert same.location in {_at(quickstart, "grpc_port", 0), _at(quickstart, "grpc_port", 1)}, same.location
    cross = " ".join(errors[f"Port {b} is declared by two endpoints"].detail.split())
    assert f"port = {b}" in cross and f"grpc_port = {b}" in cross, cross
    assert not (quickstart / ".mlform" / "servers" / "sentiment").exists()  # nothing started


@pytest.mark.parametrize("body, attr, summary", [
    ("  batching {\n    max_batch_size = 0\n  }\n", "max_batch_size", "Invalid batching.max_batch_size"),
    ("  batching {\n    max_batch_size = 2.5\n  }\n", "max_batch_size", "Invalid batching.max_batch_size"),
    ("  batching {\n    max_delay_ms = -1\n  }\n", "max_delay_ms", "Invalid batching.max_delay_ms"),
    ("  grpc_port = 70000\n", "grpc_port", "Invalid grpc_port"),
    ("  port      = 9411\n  grpc_port = 9411\n", "grpc_port", "grpc_port is the same as port"),
])
def test_bad_values_are_refused_at_the_attribute(quickstart: Path, body: str, attr: str, summary: str) -> None:
    endpoint_settings(quickstart, body)
    for cmd in ("validate", "plan"):
        r = mlform(quickstart, cmd)
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert (e.summary, e.location) == (summary, _at(quickstart, attr)), (cmd, r.stderr)


def test_a_missing_grpc_extra_is_an_error_at_grpc_port(quickstart: Path, tmp_path: Path) -> None:
    hide = tmp_path / "hide-grpc"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_GRPC)
    env = {"PYTHONPATH": str(hide)}
    probe = subprocess.run([sys.executable, "-c", "import grpc"], capture_output=True, text=True, env=env)
    assert "hidden by the test" in probe.stderr, probe.stderr  # the simulation works
    assert mlform(quickstart, "validate", env=env).returncode == 0  # without grpc_port the extra is not needed
    endpoint_settings(quickstart, "  grpc_port = 0\n")
    for cmd in ("validate", "plan"):
        r = mlform(quickstart, cmd, env=env)
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert (e.summary, e.location) == ("gRPC serving (grpc_port) needs the mlform[grpc] extra",
                                           _at(quickstart, "grpc_port")), r.stderr
        assert "pip install 'mlform[grpc]'" in e.detail, e.detail


def test_a_grpc_port_held_by_another_program_is_an_error_at_grpc_port(quickstart: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        endpoint_settings(quickstart, f"  grpc_port = {port}\n")
        r = mlform(quickstart, "apply", "--auto-approve")
        assert r.returncode == 1, r.stdout + r.stderr
        (e,) = _errors(r)
        assert (e.summary, e.location) == (f"Port {port} is already in use", _at(quickstart, "grpc_port")), r.stderr
        assert f"grpc_port = {port}" in e.detail and "set grpc_port = 0" in e.detail, e.detail
