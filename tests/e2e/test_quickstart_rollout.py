"""The quickstart as a user runs it: apply, predict, roll out, block, roll back, destroy.

Real servers on 127.0.0.1, real ONNX models from examples/quickstart, the CLI
run as a subprocess exactly as a person types it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
ROW = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}

pytestmark = pytest.mark.slow


def mlform(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlform.engine.cli.main", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def state(proj: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((proj / "mlform.state.json").read_text())


def endpoint(proj: Path) -> dict:  # type: ignore[type-arg]
    return next(r for r in state(proj)["resources"] if r["address"] == "endpoint.sentiment")


def test_apply_predict_rollout_block_destroy(quickstart: Path) -> None:
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Apply complete! Resources: 3 added" in r.stdout
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    resp = httpx.post(url, json=ROW, timeout=10)
    assert resp.status_code == 200
    probs = resp.json()["outputs"][0]["data"]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-3

    # The plan for a new model shows the rollout and the gate.
    r = mlform(quickstart, "plan", "--var", "model_file=models/sentiment-v2.onnx", "--detailed-exitcode")
    assert r.returncode == 2, r.stderr
    assert "# rollout: canary 10% -> 50% -> 100%" in r.stdout
    assert "gates: eval_suite.golden" in r.stdout

    # Roll it out under load: no request may fail.
    errors: list[str] = []
    sent = [0]
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set() and sent[0] < 20000:
                try:
                    rr = c.post(url, json=ROW)
                    if rr.status_code != 200:
                        errors.append(f"{rr.status_code} {rr.text[:80]}")
                except httpx.HTTPError as e:
                    errors.append(repr(e))
                sent[0] += 1

    t = threading.Thread(target=load)
    t.start()
    try:
        r = mlform(quickstart, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    finally:
        stop.set()
        t.join()
    assert r.returncode == 0, r.stdout + r.stderr
    assert sent[0] > 100 and errors == []
    v2 = json.loads((QUICKSTART / "models" / "metrics.json").read_text())["sentiment-v2"]["digest"]
    ep = endpoint(quickstart)
    assert ep["attributes"]["active_model_digest"] == v2
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == "v-" + v2.split(":")[1][:12]
    rollout = state(quickstart)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert [s.get("percent") for s in rollout["steps"] if "percent" in s] == [10, 50, 100]

    # A broken model is stopped by its eval suite before any traffic reaches it.
    r = mlform(quickstart, "apply", "--auto-approve", "--var", "model_file=models/sentiment-broken.onnx")
    assert r.returncode == 1
    assert "Eval suite eval_suite.golden failed" in r.stderr
    assert "accuracy = 0.375, required >= 0.85" in r.stderr
    assert "endpoint.sentiment: skipped because eval_suite.golden failed" in r.stdout
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == v2
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == "v-" + v2.split(":")[1][:12]

    r = mlform(quickstart, "destroy", "--auto-approve")
    assert r.returncode == 0 and "3 destroyed" in r.stdout
    with pytest.raises(httpx.HTTPError):
        httpx.post(url, json=ROW, timeout=2)


def test_latency_breach_rolls_back_to_the_old_version(quickstart: Path) -> None:
    cfg = quickstart / "main.mlf.hcl"
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old = endpoint(quickstart)["attributes"]["active_model_digest"]
    # Any real request breaches a p99 bound of 1 microsecond: the first bake must roll back.
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 250", "p99_latency_ms = 0.001"))
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=10) as c:
            while not stop.is_set():
                c.post(url, json=ROW)
                time.sleep(0.002)

    t = threading.Thread(target=load)
    t.start()
    try:
        r = mlform(quickstart, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    finally:
        stop.set()
        t.join()
    assert r.returncode == 1
    assert "Rollout of endpoint.sentiment was rolled back" in r.stderr
    assert "exceeded rollback_when.p99_latency_ms" in r.stderr
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == old
    rollout = state(quickstart)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "rolled_back"
    # The old version serves everything again; the new one is gone.
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == "v-" + old.split(":")[1][:12]


def test_a_bake_judges_only_its_own_steps_traffic(quickstart: Path) -> None:
    """The gate's 200 requests reach the staged version just before the first step; with no
    live traffic, no step may count them: every bake records 0 requests and a p99 bound that
    any real request breaches rolls nothing back (there is nothing live to judge)."""
    cfg = quickstart / "main.mlf.hcl"
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 250", "p99_latency_ms = 0.001"))
    r = mlform(quickstart, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    assert r.returncode == 0, r.stdout + r.stderr
    rollout = state(quickstart)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    gate = next(s for s in rollout["steps"] if "gate" in s)
    assert gate["passed"]
    baked = [s for s in rollout["steps"] if "percent" in s]
    assert [s["percent"] for s in baked] == [10, 50, 100]
    assert [s["requests"] for s in baked] == [0, 0, 0], baked
    assert [s["judged"] for s in baked] == [False, False, False]
    assert "Warning: Rollout of endpoint.sentiment was not judged on live traffic" in r.stdout + r.stderr
    assert "The bakes at 10%, 50%, 100% saw fewer than rollback_when.min_requests (1)" in r.stdout + r.stderr
