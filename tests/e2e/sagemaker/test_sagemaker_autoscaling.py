"""The endpoint's ``autoscaling`` block as Application Auto Scaling on moto (tests/fixtures/sagemaker_moto.py):
apply registers the serving variant as a scalable target with a target-tracking policy, a changed bound is
updated, bounds edited outside mlform show in plan and are put back by apply, destroy deregisters."""

from __future__ import annotations

from typing import Any

from tests.e2e.sagemaker.test_sagemaker_lifecycle import config, ep_of
from tests.fixtures.models import write_onnx_classifier
from tests.fixtures.project import Project
from tests.fixtures.sagemaker_moto import SageMakerMoto

DIM = "sagemaker:variant:DesiredInstanceCount"


def _block(lo: int, hi: int, rps: int = 5) -> str:
    return (f"  autoscaling {{\n    min_replicas           = {lo}\n    max_replicas           = {hi}\n"
            f"    target_rps_per_replica = {rps}\n  }}\n")


def _targets(aas: Any) -> dict[str, tuple[int, int]]:
    out = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    return {t["ResourceId"]: (t["MinCapacity"], t["MaxCapacity"]) for t in out if t["ScalableDimension"] == DIM}


def _apply(p: Project) -> None:
    r = p.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output


def test_autoscaling_registered_updated_drift_destroyed(tmp_project: Project, sagemaker_moto: SageMakerMoto
                                                         ) -> None:
    aas = sagemaker_moto.client("application-autoscaling")
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, _block(1, 3)))
    _apply(tmp_project)
    st = ep_of(tmp_project)
    rid = f"endpoint/{st['endpoint_name']}/variant/{st['variant_name']}"
    assert _targets(aas) == {rid: (1, 3)}
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    assert len(policies) == 1 and policies[0]["PolicyType"] == "TargetTrackingScaling"
    tt = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert tt["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert tt["TargetValue"] == 300.0  # 5 requests per second per replica, per minute
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    # a new max: the target is updated in place (the endpoint is not touched)
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, _block(1, 5)))
    r = tmp_project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2 and "max_replicas" in r.stdout, r.output
    _apply(tmp_project)
    assert _targets(aas) == {rid: (1, 5)}
    assert ep_of(tmp_project)["endpoint_config_name"] == st["endpoint_config_name"]
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    # bounds edited in the console: plan shows them, apply puts the declared ones back
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIM,
                                 MinCapacity=2, MaxCapacity=9)
    r = tmp_project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r.output
    assert "9" in r.stdout and "max_replicas" in r.stdout, r.stdout
    _apply(tmp_project)
    assert _targets(aas) == {rid: (1, 5)}

    # new weights: rolled out to a new variant, which is registered; the old one is deregistered
    write_onnx_classifier(tmp_project.path / "models" / "model.onnx", seed=7)
    _apply(tmp_project)
    st1 = ep_of(tmp_project)
    assert st1["variant_name"] != st["variant_name"]
    rid = f"endpoint/{st1['endpoint_name']}/variant/{st1['variant_name']}"
    assert _targets(aas) == {rid: (1, 5)}
    assert [p["ResourceId"] for p in aas.describe_scaling_policies(ServiceNamespace="sagemaker")
            ["ScalingPolicies"]] == [rid]
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    # a new instance type: a new config, the same variant kept registered with its bounds
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, _block(1, 5)).replace("ml.m5.large", "ml.c5.large"))
    _apply(tmp_project)
    st2 = ep_of(tmp_project)
    assert st2["endpoint_config_name"] != st["endpoint_config_name"]
    assert _targets(aas) == {f"endpoint/{st2['endpoint_name']}/variant/{st2['variant_name']}": (1, 5)}

    # the block removed: deregistered
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto).replace("ml.m5.large", "ml.c5.large"))
    _apply(tmp_project)
    assert _targets(aas) == {}
    assert tmp_project.run("plan", "--detailed-exitcode").exit_code == 0

    # back again, then destroy deregisters
    tmp_project.write("main.mlf.hcl", config(sagemaker_moto, _block(2, 4)).replace("ml.m5.large", "ml.c5.large"))
    _apply(tmp_project)
    assert list(_targets(aas).values()) == [(2, 4)]
    assert tmp_project.run("destroy", "--auto-approve").exit_code == 0
    assert _targets(aas) == {}
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
