"""examples/ray as a user runs it, on a real two-node Ray cluster on 127.0.0.1
(tests/fixtures/ray_cluster.py): apply with replicas placed on both nodes, a canary
rollout under continuous load with no failed request, a broken model blocked by its
gate, a slow model rolled back, the CLI killed mid-rollout and the next apply
recovering, drift made outside mlform shown by plan, a replica killed by hand
replaced by Serve while requests keep succeeding, destroy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.rollout_support import CLI, QUICKSTART, Load, digest_of, mlform, vid
from tests.fixtures.ray_cluster import RayCluster

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "ray"
V2 = "model_file=../quickstart/models/sentiment-v2.onnx"
BROKEN = "model_file=../quickstart/models/sentiment-broken.onnx"

pytestmark = pytest.mark.slow


def _project(tmp: Path, cluster: RayCluster, name: str) -> Path:
    shutil.copytree(QUICKSTART, tmp / "quickstart", ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    shutil.copytree(EXAMPLE, tmp / "ray", ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    proj = tmp / "ray"
    text = (proj / "main.mlf.hcl").read_text()
    text = text.replace("http_port = 8000", f"http_port      = {cluster.http_port}\n  proxy_location = \"HeadOnly\"")
    text = text.replace('endpoint "sentiment"', f'endpoint "{name}"').replace("endpoint.sentiment", f"endpoint.{name}")
    text = text.replace("/v2/models/sentiment/", f"/v2/models/{name}/")
    (proj / "main.mlf.hcl").write_text(text)
    return proj


def _run(proj: Path, cluster: RayCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return mlform(proj, *args, "-var", f"ray_address={cluster.dashboard}", timeout=400)


def _ep(proj: Path, name: str) -> dict:  # type: ignore[type-arg]
    st = json.loads((proj / "mlform.state.json").read_text())
    return next(r for r in st["resources"] if r["address"] == f"endpoint.{name}")


def _apps(cluster: RayCluster) -> dict:  # type: ignore[type-arg]
    apps: dict = httpx.get(cluster.dashboard + "/api/serve/applications/", timeout=10).json()["applications"]  # type: ignore[type-arg]
    return apps


def _gone(cluster: RayCluster, app: str, wait: float = 60) -> bool:
    """Whether Serve has removed ``app`` (it is DELETING a moment first)."""
    end = time.monotonic() + wait
    while app in _apps(cluster):
        if time.monotonic() > end:
            return False
        time.sleep(0.5)
    return True


def test_rollout_gate_broken_drift_destroy(ray_cluster: RayCluster, tmp_path: Path) -> None:
    proj = _project(tmp_path, ray_cluster, "sentiment")
    cfg = proj / "main.mlf.hcl"  # a loaded 2-core CI box: only a real breach should roll back
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 250", "p99_latency_ms = 3000"))
    r = _run(proj, ray_cluster, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    ep = _ep(proj, "sentiment")["attributes"]
    assert len(ep["placement"]) == 2, ep["placement"]  # 2 replicas of 1 CPU: one on each node
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    v1, v2 = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    assert httpx.post(url, json={"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32",
                                             "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]},
                      timeout=10).json()["model_version"] == v1

    with Load(url) as load:
        r = _run(proj, ray_cluster, "apply", "--auto-approve", "-var", V2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert load.errors == [] and load.sent > 100, load.errors[:5]
    assert load.served.get(v1) and load.served.get(v2), load.served
    st = json.loads((proj / "mlform.state.json").read_text())
    rollout = st["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert [s["percent"] for s in rollout["steps"] if "percent" in s] == [10, 50, 100]
    assert any(s.get("requests") for s in rollout["steps"] if "percent" in s)  # bakes saw live traffic
    assert set(_apps(ray_cluster)) >= {"sentiment", f"sentiment.{v2}"}
    assert _gone(ray_cluster, f"sentiment.{v1}")

    r = _run(proj, ray_cluster, "apply", "--auto-approve", "-var", BROKEN)
    assert r.returncode == 1
    assert "Eval suite eval_suite.golden failed" in r.stderr
    assert _ep(proj, "sentiment")["attributes"]["active_model_digest"] == digest_of("sentiment-v2")

    # Forgotten by state, adopted again by its Serve application's name: planned in place.
    assert mlform(proj, "state", "rm", "endpoint.sentiment").returncode == 0
    r = _run(proj, ray_cluster, "import", "endpoint.sentiment", "sentiment", "-var", V2)
    assert r.returncode == 0 and "Import successful" in r.stdout, r.stdout + r.stderr
    r = _run(proj, ray_cluster, "plan", "-var", V2)
    assert "endpoint.sentiment will be updated in-place" in r.stdout and "# rollout" not in r.stdout, r.stdout
    assert "Plan: 0 to add" in r.stdout, r.stdout
    assert _run(proj, ray_cluster, "apply", "--auto-approve", "-var", V2).returncode == 0

    # Rescaled outside mlform (Serve's REST API, as `serve deploy` would): plan shows it.
    apps = [a["deployed_app_config"] for a in _apps(ray_cluster).values()]
    for a in apps:
        if a["name"] == f"sentiment.{v2}":
            a["deployments"][0]["num_replicas"] = 1
    httpx.put(ray_cluster.dashboard + "/api/serve/applications/", timeout=30,
              json={"applications": apps, "proxy_location": "HeadOnly",
                    "http_options": {"host": "127.0.0.1", "port": ray_cluster.http_port}}).raise_for_status()
    r = _run(proj, ray_cluster, "plan", "-var", V2, "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "replicas" in r.stdout and "1 -> 2" in r.stdout, r.stdout

    r = _run(proj, ray_cluster, "destroy", "--auto-approve", "-var", V2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert _gone(ray_cluster, "sentiment") and _gone(ray_cluster, f"sentiment.{v2}")

    # More CPUs per replica than any node has: refused before anything is deployed, saying
    # what the cluster has.
    cfg.write_text(cfg.read_text().replace("cpus_per_replica = 1", "cpus_per_replica = 3"))
    r = _run(proj, ray_cluster, "apply", "--auto-approve")
    assert r.returncode == 1
    assert "Could not deploy endpoint.sentiment on Ray Serve" in r.stderr
    assert "2 replica(s) of 3 CPU and 0 GPU each do not fit on the cluster, which has 2 node(s)" in r.stderr
    assert ": 2 CPU, 0 GPU" in r.stderr and "at most 0 fit" in r.stderr and "Traceback" not in r.stderr
    assert "sentiment" not in _apps(ray_cluster)


def test_slow_rolled_back_kill_mid_rollout_and_replica_killed(ray_cluster: RayCluster, tmp_path: Path) -> None:
    proj = _project(tmp_path, ray_cluster, "moods")
    assert _run(proj, ray_cluster, "apply", "--auto-approve").returncode == 0
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    v1, v2 = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
    cfg = proj / "main.mlf.hcl"

    # Any real request breaches a p99 bound of 1 microsecond: the first bake rolls back.
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 250", "p99_latency_ms = 0.001"))
    with Load(url) as load:
        r = _run(proj, ray_cluster, "apply", "--auto-approve", "-var", V2)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Rollout of endpoint.moods was rolled back" in r.stderr
    assert load.errors == [], load.errors[:5]
    assert _gone(ray_cluster, f"moods.{v2}")
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 0.001", "p99_latency_ms = 3000")
                   .replace("bake_seconds = 3", "bake_seconds = 30"))

    # kill -9 of the CLI during the first bake; the next apply rolls back, then out again.
    with Load(url) as load:
        p = subprocess.Popen([*CLI, "apply", "--auto-approve", "-var", V2, "-var",
                              f"ray_address={ray_cluster.dashboard}"], cwd=proj, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        end = time.monotonic() + 240
        assert p.stdout is not None
        for line in p.stdout:
            if "10% bake" in line or time.monotonic() > end:
                break
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        p.stdout.close()
        assert f"moods.{v2}" in _apps(ray_cluster)  # left half-way
        cfg.write_text(cfg.read_text().replace("bake_seconds = 30", "bake_seconds = 2"))
        r = _run(proj, ray_cluster, "apply", "--auto-approve", "-var", V2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "was interrupted at 10%" in r.stdout + r.stderr
    assert load.errors == [], load.errors[:5]
    assert _ep(proj, "moods")["attributes"]["active_model_digest"] == digest_of("sentiment-v2")

    # A replica killed in steady state: Serve replaces it, requests keep succeeding.
    dep = _apps(ray_cluster)[f"moods.{v2}"]["deployments"]["version"]
    victim = dep["replicas"][0]["pid"]
    with Load(url) as load:
        time.sleep(1)
        os.kill(victim, signal.SIGKILL)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            reps = _apps(ray_cluster)[f"moods.{v2}"]["deployments"]["version"]["replicas"]
            if len([x for x in reps if x["state"] == "RUNNING" and x["pid"] != victim]) == 2:
                break
            time.sleep(1)
        time.sleep(2)
    assert len([x for x in reps if x["state"] == "RUNNING" and x["pid"] != victim]) == 2, reps
    assert load.errors == [] and load.served.get(v2), load.errors[:5]
    assert _run(proj, ray_cluster, "destroy", "--auto-approve", "-var", V2).returncode == 0


def test_unreachable_cluster_names_the_address(tmp_path: Path) -> None:
    from tests.e2e.rollout_support import free_port
    shutil.copytree(QUICKSTART, tmp_path / "quickstart", ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    proj = tmp_path / "ray"
    shutil.copytree(EXAMPLE, proj)
    port = free_port()
    r = mlform(proj, "plan", "-var", f"ray_address=http://127.0.0.1:{port}")
    assert r.returncode == 1
    assert f"Cannot reach the Ray cluster at http://127.0.0.1:{port}" in r.stderr
    assert "on main.mlf.hcl:16:" in r.stderr  # the provider block and "Traceback" not in r.stderr, r.stderr
