"""The quickstart's rollout scenarios on SageMaker-on-moto (moto extended in tests/fixtures/sagemaker_moto.py:
status transitions, UpdateEndpoint with deployment guardrails, InvokeEndpoint answered by the real model):
gate passes -> steps -> done; gate fails -> no traffic moved; breach during a bake -> rolled back (driven, on
CloudWatch metrics; native, a CloudWatch alarm in ALARM); kill -9 mid-rollout -> the next apply recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from tests.e2e.rollout_support import CLI, digest_of, mlform, set_rollout, state, vid
from tests.e2e.sagemaker.support import InvokeLoad, attrs, sagemaker_quickstart, variants
from tests.fixtures.sagemaker_moto import SageMakerMoto

V1, V2 = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
NEW = ("--var", "model_file=models/sentiment-v2.onnx")


def test_gate_passes_then_steps_then_the_old_variant_is_gone(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto
    proj = sagemaker_quickstart(tmp_path, sm)
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert variants(sm, proj) == {V1: 100}
    r = mlform(proj, "plan", *NEW)
    assert "# rollout: canary 10% -> 50% -> 100%" in r.stdout, r.stdout + r.stderr
    with InvokeLoad(sm, attrs(proj)["endpoint_name"]) as load:
        r = mlform(proj, "apply", "--auto-approve", *NEW)
    assert r.returncode == 0, r.stdout + r.stderr
    assert load.errors == [] and set(load.served) == {V1, V2}  # user traffic reached both while weights moved
    assert variants(sm, proj) == {V2: 100}
    assert attrs(proj)["active_model_digest"] == digest_of("sentiment-v2") and attrs(proj)["variant_name"] == V2
    models = [m["ModelName"] for m in sm.client("sagemaker").list_models()["Models"]
              if m["ModelName"].startswith("mlform-sentiment-")]
    assert attrs(proj)["model_name"] in models and not any(V1 in m for m in models)  # the old Model deleted
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert next(s for s in rollout["steps"] if "gate" in s)["passed"]
    assert [s["percent"] for s in rollout["steps"] if "percent" in s] == [10, 50, 100]
    name = attrs(proj)["endpoint_name"]
    r = mlform(proj, "destroy", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert name not in [e["EndpointName"] for e in sm.client("sagemaker").list_endpoints()["Endpoints"]]


def test_a_failed_gate_moves_no_traffic(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    proj = sagemaker_quickstart(tmp_path, sagemaker_moto)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-broken.onnx")
    assert r.returncode == 1
    assert "Eval suite eval_suite.golden failed" in r.stderr, r.stderr
    assert variants(sagemaker_moto, proj) == {V1: 100}  # the broken variant never had weight, and is gone
    assert attrs(proj)["active_model_digest"] == digest_of("sentiment-v1")


def test_a_breach_during_a_driven_bake_rolls_back(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    proj = sagemaker_quickstart(tmp_path, sagemaker_moto)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    cfg = proj / "main.mlf.hcl"  # any real invocation breaches a p99 bound of 1 microsecond
    cfg.write_text(cfg.read_text().replace("p99_latency_ms = 20000", "p99_latency_ms = 0.001"))
    with InvokeLoad(sagemaker_moto, attrs(proj)["endpoint_name"]):
        r = mlform(proj, "apply", "--auto-approve", *NEW)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Rollout of endpoint.sentiment was rolled back" in r.stderr
    assert "exceeded rollback_when.p99_latency_ms" in r.stderr
    assert variants(sagemaker_moto, proj) == {V1: 100}
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "rolled_back"
    assert [s["percent"] for s in rollout["steps"] if "percent" in s] == [10]


def test_an_alarm_during_a_native_rollout_rolls_back(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    sm = sagemaker_moto
    proj = sagemaker_quickstart(tmp_path, sm, '  rollout_mode       = "native"\n')
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    cw, stop = sm.client("cloudwatch"), threading.Event()
    fired: list[str] = []

    def breach() -> None:  # the new variant's error alarm goes off while SageMaker shifts traffic
        while not stop.is_set() and not fired:
            for a in cw.describe_alarms(AlarmNamePrefix="mlform-")["MetricAlarms"]:
                if a["AlarmName"].endswith("-error-rate"):
                    sm.set_alarm(a["AlarmName"], "ALARM")
                    fired.append(a["AlarmName"])
            time.sleep(0.02)
    watcher = threading.Thread(target=breach, daemon=True)
    watcher.start()
    try:
        r = mlform(proj, "apply", "--auto-approve", *NEW)
    finally:
        stop.set()
        watcher.join()
    assert fired, "mlform created no alarm from rollback_when:\n" + r.stdout + r.stderr
    assert r.returncode == 1, r.stdout + r.stderr
    assert "rolled back" in r.stderr and fired[0] in r.stderr
    deployment = sm.deployments(attrs(proj)["endpoint_name"])[-2]  # then abort's own update
    policy = deployment["DeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert policy["Type"] == "CANARY" and policy["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 10}
    assert variants(sm, proj) == {V1: 100}
    assert cw.describe_alarms(AlarmNamePrefix="mlform-")["MetricAlarms"] == []  # deleted when no longer used
    assert state(proj)["history"][-1]["rollouts"][0]["outcome"] == "rolled_back"


def test_kill_9_mid_rollout_then_the_next_apply_recovers(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    proj = sagemaker_quickstart(tmp_path, sagemaker_moto)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    set_rollout(proj, bake_seconds="60")
    p = subprocess.Popen([*CLI, "apply", "--auto-approve", *NEW], cwd=proj, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ)
    try:
        deadline = time.monotonic() + 90
        while variants(sagemaker_moto, proj).get(V2) != 10:
            assert p.poll() is None and time.monotonic() < deadline, "the rollout never reached 10%"
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert variants(sagemaker_moto, proj) == {V1: 90, V2: 10}
    r = mlform(proj, "plan", *NEW)
    assert "A rollout on endpoint.sentiment was interrupted" in r.stdout + r.stderr
    set_rollout(proj, bake_seconds="1")
    r = mlform(proj, "apply", "--auto-approve", *NEW)
    assert r.returncode == 0, r.stdout + r.stderr
    assert variants(sagemaker_moto, proj) == {V2: 100}
    rollout = state(proj)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed"
    assert rollout["recovered"] == {"version": V2, "percent": 10.0, "rolled_back_to": V1}
