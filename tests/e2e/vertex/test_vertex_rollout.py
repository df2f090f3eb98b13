"""The quickstart's rollout scenarios on the FAKE Vertex AI (tests/fakes/vertex; no emulator exists):
gate passes -> steps -> old undeployed; gate fails -> no traffic moved; breach in a bake -> rolled
back; kill -9 mid-rollout -> the next apply recovers. The CLI runs as a subprocess, as a user types it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.rollout_support import CLI, ROW, Load, digest_of, set_rollout, vid
from tests.e2e.vertex.support import attrs, mlform, state, vertex_quickstart
from tests.fixtures.vertex_fake import VertexFake

pytestmark = pytest.mark.slow
V1, V2 = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))


def deployed(vf: VertexFake, proj: Path) -> dict[str, int]:
    """Version -> percent of the endpoint's traffic split, as Vertex (the fake) holds it."""
    ep = vf.fake.endpoint(attrs(proj)["endpoint_name"])
    return {d.display_name: ep.traffic_split.get(d.id, 0) for d in ep.deployed_models}


def test_gate_passes_then_steps_then_the_old_model_is_undeployed(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert deployed(vertex_fake, proj) == {V1: 100}
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == V1

    r = mlform(proj, "plan", "--var", "model_file=models/sentiment-v2.onnx")
    assert "# rollout: canary 10% -> 50% -> 100%" in r.stdout
    assert "judged on mlform's own probe requests" in r.stdout + r.stderr
    first = len(vertex_fake.fake.calls)
    with Load(url) as load:
        r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert load.sent > 50 and load.errors == []
    assert set(load.served) == {V1, V2}  # user traffic reached both while the split moved
    assert deployed(vertex_fake, proj) == {V2: 100}
    assert attrs(proj)["active_model_digest"] == digest_of("sentiment-v2")
    assert attrs(proj)["model_resource"].endswith("@2")  # a new version of the same registry model
    # the gate (200 records) and the probes reached the new deployed model by its own route
    assert vertex_fake.fake.serving.direct.get(attrs(proj)["deployed_model_id"], 0) >= 200
    calls = vertex_fake.fake.calls[first:]
    # staged beside the old model, three etag'd split updates (plus the last one), the old one undeployed
    assert calls.index("DeployModel") < calls.index("UpdateEndpoint")
    assert calls.count("UpdateEndpoint") == 3 and "UndeployModel" in calls
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert next(s for s in rollout["steps"] if "gate" in s)["passed"]
    baked = [s for s in rollout["steps"] if "percent" in s]
    assert [s["percent"] for s in baked] == [10, 50, 100]
    assert all(s["requests"] > 0 and s["judged"] for s in baked), baked  # probes were judged

    r = mlform(proj, "destroy", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert vertex_fake.fake.reg.endpoints == {}
    assert vertex_fake.fake.serving.servers == {}


def test_a_failed_gate_moves_no_traffic(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    first = len(vertex_fake.fake.calls)
    r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-broken.onnx")
    assert r.returncode == 1
    assert "Eval suite eval_suite.golden failed" in r.stderr
    calls = vertex_fake.fake.calls[first:]
    assert "UpdateEndpoint" not in calls  # the split never changed: the broken model got no user traffic
    assert deployed(vertex_fake, proj) == {V1: 100}
    assert attrs(proj)["active_model_digest"] == digest_of("sentiment-v1")


def test_a_breach_during_a_bake_rolls_back(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    cfg = proj / "main.mlf.hcl"  # any real probe breaches a p99 bound of 1 microsecond
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 5000", "p99_latency_ms = 0.001"))
    r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Rollout of endpoint.sentiment was rolled back" in r.stderr
    assert "exceeded rollback_when.p99_latency_ms" in r.stderr
    assert deployed(vertex_fake, proj) == {V1: 100}
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "rolled_back"
    assert [s["percent"] for s in rollout["steps"] if "percent" in s] == [10]


def test_kill_9_mid_rollout_then_the_next_apply_recovers(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    set_rollout(proj, bake_seconds="60")
    p = subprocess.Popen([*CLI, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx"], cwd=proj,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ)
    try:
        deadline = time.monotonic() + 90
        while deployed(vertex_fake, proj).get(V2) != 10:
            assert p.poll() is None and time.monotonic() < deadline, "the rollout never reached 10%"
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert deployed(vertex_fake, proj) == {V1: 90, V2: 10}

    r = mlform(proj, "plan", "--var", "model_file=models/sentiment-v2.onnx")
    assert f"Rollout of {V2} on endpoint.sentiment was interrupted at 10%" in r.stdout + r.stderr
    set_rollout(proj, bake_seconds="1")
    r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert deployed(vertex_fake, proj) == {V2: 100}
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert rollout["recovered"] == {"version": V2, "percent": 10.0, "rolled_back_to": V1}
