"""The endpoint's ``autoscaling`` block as Application Auto Scaling (docs/sagemaker.md#autoscaling).

The variant serving all traffic is a scalable target (service namespace
``sagemaker``, dimension ``sagemaker:variant:DesiredInstanceCount``, resource
id ``endpoint/NAME/variant/VARIANT``) between ``min_replicas`` and
``max_replicas``, with a target-tracking policy on
``SageMakerVariantInvocationsPerInstance`` (invocations per instance per
minute: ``target_rps_per_replica`` × 60). A variant no longer serving (a new
version promoted) or a block removed is deregistered; destroy deregisters.
Serverless variants scale by themselves: nothing is registered for them.
"""

from __future__ import annotations

from typing import Any

from mlform.providers.sagemaker.client import Api, Progress, SageMakerError

SERVICE, DIMENSION = "sagemaker", "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"
AAS = "application-autoscaling"


def resource_id(endpoint: str, variant: str) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def policy_name(endpoint: str) -> str:
    return f"mlform-{endpoint}"[:256]


def bounds(auto: Any, serverless: bool = False) -> tuple[int, int, float | None] | None:
    """(min, max, target rps per replica) of an ``autoscaling`` block; None when there is none to register."""
    if not isinstance(auto, dict) or serverless:
        return None
    lo, hi, rps = auto.get("min_replicas"), auto.get("max_replicas"), auto.get("target_rps_per_replica")
    lo_n = int(lo) if isinstance(lo, (int, float)) else 1
    hi_n = int(hi) if isinstance(hi, (int, float)) else lo_n
    return max(1, lo_n), max(max(1, lo_n), hi_n), float(rps) if isinstance(rps, (int, float)) and rps > 0 else None


def registered(api: Api, endpoint: str, variant: str) -> tuple[int, int] | None:
    """(min, max) Application Auto Scaling has for the variant now; None when it is not registered."""
    rid = resource_id(endpoint, variant)
    out = api.call(AAS, "DescribeScalableTargets", rid, ServiceNamespace=SERVICE, ResourceIds=[rid],
                   ScalableDimension=DIMENSION)
    for t in out.get("ScalableTargets", []):
        if t.get("ResourceId") == rid:
            return int(t["MinCapacity"]), int(t["MaxCapacity"])
    return None


def deregister(api: Api, endpoint: str, variant: str, progress: Progress) -> None:
    """Remove the variant's scalable target (and so its policies); one not registered is fine."""
    rid = resource_id(endpoint, variant)
    if registered(api, endpoint, variant) is None:
        return
    progress(f"deregistering {rid} from Application Auto Scaling")
    try:  # AWS deletes a deregistered target's policies itself; deleted first here so none is ever left behind
        policies = api.call(AAS, "DescribeScalingPolicies", rid, ServiceNamespace=SERVICE, ResourceId=rid,
                            ScalableDimension=DIMENSION).get("ScalingPolicies", [])
        for p in policies:
            api.call(AAS, "DeleteScalingPolicy", rid, PolicyName=p["PolicyName"], ServiceNamespace=SERVICE,
                     ResourceId=rid, ScalableDimension=DIMENSION)
        api.call(AAS, "DeregisterScalableTarget", rid, ServiceNamespace=SERVICE, ResourceId=rid,
                 ScalableDimension=DIMENSION)
    except SageMakerError as e:
        if "No scalable target" not in e.detail and e.code != "ObjectNotFoundException":
            raise


def sync(api: Api, endpoint: str, variant: str, state: dict[str, Any], old: list[str], progress: Progress) -> None:
    """Make Application Auto Scaling match ``state``'s autoscaling block for ``variant`` of ``endpoint``;
    the variants in ``old`` (no longer serving) are deregistered."""
    for v in old:
        if v and v != variant:
            deregister(api, endpoint, v, progress)
    want = bounds(state.get("autoscaling"), bool(state.get("serverless_memory_mb")))
    if want is None:
        deregister(api, endpoint, variant, progress)
        return
    lo, hi, rps = want
    rid = resource_id(endpoint, variant)
    progress(f"registering {rid} with Application Auto Scaling ({lo}..{hi} instances)")
    api.call(AAS, "RegisterScalableTarget", rid, ServiceNamespace=SERVICE, ResourceId=rid,
             ScalableDimension=DIMENSION, MinCapacity=lo, MaxCapacity=hi)
    if rps is None:
        return
    api.call(AAS, "PutScalingPolicy", rid, PolicyName=policy_name(endpoint), ServiceNamespace=SERVICE,
             ResourceId=rid, ScalableDimension=DIMENSION, PolicyType="TargetTrackingScaling",
             TargetTrackingScalingPolicyConfiguration={
                 "TargetValue": rps * 60.0, "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
                 "ScaleInCooldown": 300, "ScaleOutCooldown": 60})


def observed(api: Api, endpoint: str, variant: str, state: dict[str, Any]) -> Any:
    """The ``autoscaling`` attribute as Application Auto Scaling has it: the declared block when the registered
    bounds match it, else with the registered bounds (drift shows in plan); None when nothing is registered."""
    declared = state.get("autoscaling")
    serverless = bool(state.get("serverless_memory_mb"))
    if serverless:
        return declared
    found = registered(api, endpoint, variant)
    want = bounds(declared)
    if found is None:
        return None if want is not None else declared
    if want is not None and found == want[:2]:
        return declared
    base = dict(declared) if isinstance(declared, dict) else {"target_rps_per_replica": None}
    base.update(min_replicas=found[0], max_replicas=found[1])
    return base


__all__ = ["bounds", "deregister", "observed", "registered", "resource_id", "sync"]
