"""The quickstart's rollouts on the docker provider, as on local, under continuous load
through the endpoint's router container: canary 10/50/100 after the gate, a broken model
blocked, a slow one rolled back, and an apply killed (SIGKILL) mid-bake rolled back by
the next one. No request may fail. A real Docker engine (tests/fixtures/docker_engine.py)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.rollout_support import CLI, Load, copy_quickstart, digest_of, endpoint, mlform, set_rollout, state, vid

pytestmark = pytest.mark.slow
V1, V2 = "model_file=models/sentiment-v1.onnx", "model_file=models/sentiment-v2.onnx"


def on_docker(proj: Path, engine: Any) -> None:
    cfg = proj / "main.mlf.hcl"
    text = re.sub(r'provider "local" \{.*?\n\}\n',
                  f'provider "docker" {{\n  host   = "{engine.host}"\n  python = "{engine.python}"\n}}\n',
                  cfg.read_text(), flags=re.S)
    text = re.sub(r"  constraints \{.*?\n  \}\n", "", text, flags=re.S)
    # A p99 bound a loaded 2-core CI machine cannot breach by accident: the slow-model step sets its own.
    text = text.replace("p99_latency_ms = 250", "p99_latency_ms = 3000")
    text = text.replace("provider   = provider.local",
                        f'provider   = provider.docker\n  image      = "{engine.image}"\n  {engine.mounts_hcl()}')
    cfg.write_text(text)


def router_info(proj: Path) -> dict[str, Any]:
    token = json.loads((proj / ".mlform" / "docker" / "sentiment" / "router.json").read_text())["token"]
    url = endpoint(proj)["attributes"]["url"]
    return dict(httpx.get(url + "/mlform/info", headers={"Authorization": f"Bearer {token}"}, timeout=5).json())


@pytest.fixture
def quickstart(tmp_path: Path, docker_engine: Any):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    on_docker(proj, docker_engine)
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def _wait(cond: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = cond()
        except (httpx.HTTPError, OSError, KeyError, StopIteration, ValueError):
            got = None
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def versions_running(engine: Any) -> set[str]:
    return {c.labels["mlform.version"] for c in engine.client().containers.list(
        filters={"label": ["mlform.role=version", "mlform.address=endpoint.sentiment"]})}


def test_quickstart_rollouts_on_docker_under_load(quickstart: Path, docker_engine: Any) -> None:
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    assert httpx.post(url, json={"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32",
                                             "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}, timeout=10).status_code == 200

    with Load(url) as load:
        # Gate, then canary 10 -> 50 -> 100 through the router; the old container retired after.
        r = mlform(quickstart, "apply", "--auto-approve", "--var", V2)
        assert r.returncode == 0, r.stdout + r.stderr
        ro = state(quickstart)["history"][-1]["rollouts"][0]
        assert ro["outcome"] == "completed"
        assert next(s for s in ro["steps"] if "gate" in s)["passed"]
        assert [s["percent"] for s in ro["steps"] if "percent" in s] == [10, 50, 100]
        assert versions_running(docker_engine) == {new}
        assert router_info(quickstart)["weights"] == {new: 100.0}

        # A broken model is stopped by the eval suite: no container, no traffic.
        r = mlform(quickstart, "apply", "--auto-approve", "--var", "model_file=models/sentiment-broken.onnx")
        assert r.returncode == 1 and "Eval suite eval_suite.golden failed" in r.stderr
        assert versions_running(docker_engine) == {new}

        # A model slower than rollback_when allows is rolled back at the first bake.
        cfg = quickstart / "main.mlf.hcl"
        cfg.write_text(cfg.read_text().replace("p99_latency_ms = 3000", "p99_latency_ms = 0.001"))
        r = mlform(quickstart, "apply", "--auto-approve", "--var", V1)
        assert r.returncode == 1
        assert "Rollout of endpoint.sentiment was rolled back" in r.stderr, r.stdout + r.stderr
        assert state(quickstart)["history"][-1]["rollouts"][0]["outcome"] == "rolled_back"
        assert endpoint(quickstart)["attributes"]["active_model_digest"] == digest_of("sentiment-v2")
        assert versions_running(docker_engine) == {new}
        cfg.write_text(cfg.read_text().replace("p99_latency_ms = 0.001", "p99_latency_ms = 3000"))

        # kill -9 of the CLI at 10%: the containers outlive it, half-way; the next apply rolls back first.
        set_rollout(quickstart, bake_seconds="60")
        log = open(quickstart / "killed-apply.log", "w")
        proc = subprocess.Popen([*CLI, "apply", "--auto-approve", "--var", V1], cwd=quickstart, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            _wait(lambda: round(router_info(quickstart)["weights"].get(old, 0)) == 10, "10% on the new version")
            time.sleep(0.5)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            log.close()
        assert {k: round(v) for k, v in router_info(quickstart)["weights"].items()} == {new: 90, old: 10}
        r = mlform(quickstart, "plan", "--var", V1)
        assert f"Rollout of {old} on endpoint.sentiment was interrupted at 10%" in r.stdout + r.stderr
        set_rollout(quickstart, bake_seconds="1")
        r = mlform(quickstart, "apply", "--auto-approve", "--var", V1)
        assert r.returncode == 0, r.stdout + r.stderr
        rollouts = state(quickstart)["history"][-1]["rollouts"]
        assert rollouts[-1]["outcome"] == "completed"
        assert versions_running(docker_engine) == {old}
        time.sleep(0.3)
    assert load.sent > 200
    assert load.errors == [], load.errors[:5]
    assert set(load.served) == {old, new}
