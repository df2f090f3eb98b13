"""What the sagemaker provider declares: its provider block, the endpoint attributes it
takes beyond the common schema, the checks of both, and the shipped price table.

A real-time endpoint runs ``instance_count`` (default: ``replicas``, else 1)
instances of ``instance_type`` (default: the ``instance_type`` the constraint
solver or the user set, else ``ml.m5.large``); ``serverless_memory_mb`` makes it
a serverless variant instead (memory and ``serverless_max_concurrency``).
Changing any of these never replaces the endpoint: the change is a new
EndpointConfig put in place by UpdateEndpoint (provider.py).
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.protocol import HardwareOption
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_TIMEOUT_S = 1800.0
# mlform's V2 (Open Inference Protocol) server image, one tag per model format; a user pushes it to
# their registry and names it with `image` (docs/sagemaker.md).
DEFAULT_IMAGES = {fmt: f"public.ecr.aws/mlform/v2-server:{fmt}" for fmt in ("onnx", "sklearn", "torch", "xgboost")}

PROVIDER = BlockSpec(attrs={
    "region": AttrSpec("string", required=True, description="the AWS region, e.g. us-east-1"),
    "execution_role_arn": AttrSpec("string", required=True,
                                   description="the IAM role SageMaker assumes to pull the image and the artifact"),
    "artifact_bucket": AttrSpec("string", required=True,
                                description="S3 bucket (optionally BUCKET/PREFIX) where model.tar.gz artifacts are "
                                            "uploaded under content-addressed keys"),
    "endpoint_url": AttrSpec("string", description="an AWS endpoint to use instead of the public ones (testing: "
                                                   "a moto server on 127.0.0.1)"),
    "rollout_mode": AttrSpec("string", enum=("driven", "native"),
                             description="driven (default): mlform takes each step and judges bakes on CloudWatch "
                                         "metrics; native: SageMaker's blue/green deployment guardrails run them, "
                                         "rolling back on alarms mlform creates from rollback_when"),
    "timeout_seconds": AttrSpec("number", description="how long creating or updating one endpoint may take. "
                                                      f"Default {DEFAULT_TIMEOUT_S:g}"),
})

ENDPOINT = BlockSpec(attrs={
    "instance_count": AttrSpec("number", description="instances of the production variant. Default: replicas, "
                                                     "else 1"),
    "serverless_memory_mb": AttrSpec("number", description="a serverless variant with this memory (1024-6144, "
                                                           "a multiple of 1024) instead of instances"),
    "serverless_max_concurrency": AttrSpec("number", description="serverless: concurrent invocations. Default 5"),
    "image": AttrSpec("string", description="the serving image. Default: mlform's V2 server for the model's format"),
    "endpoint_name": AttrSpec("string", computed=True, description="the SageMaker endpoint"),
    "endpoint_config_name": AttrSpec("string", computed=True, description="its EndpointConfig in service"),
    "model_name": AttrSpec("string", computed=True, description="the SageMaker Model serving all traffic"),
    "variant_name": AttrSpec("string", computed=True, description="its production variant"),
    "artifact_uri": AttrSpec("string", computed=True, description="s3:// URI of the model.tar.gz"),
})

TABLE: dict[str, Any] = json.loads((Path(__file__).parent / "prices.json").read_text())
INSTANCE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")


def sagemaker_schema() -> GetSchemaResponse:
    return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})


def _known(v: Any) -> bool:
    return v is not None and not contains_unknown(v)


def _whole(v: Any, low: int) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer() and v >= low


def closest_instance_types(name: str) -> list[str]:
    return difflib.get_close_matches(name, list(TABLE["instance_types"]), n=3, cutoff=0.5) or \
        [DEFAULT_INSTANCE_TYPE]


def check_provider(cfg: dict[str, Any]) -> Diagnostics:
    d = Diagnostics()
    role = cfg.get("execution_role_arn")
    if _known(role) and not (isinstance(role, str) and re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+", role)):
        d.error("Invalid execution_role_arn", f"execution_role_arn = {role!r}: write an IAM role ARN, "
                "arn:aws:iam::ACCOUNT:role/NAME.", path=("execution_role_arn",))
    bucket = cfg.get("artifact_bucket")
    if _known(bucket) and not (isinstance(bucket, str) and re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$",
                                                                    bucket.removeprefix("s3://"))):
        d.error("Invalid artifact_bucket", f"artifact_bucket = {bucket!r}: write a bucket name, optionally "
                "followed by /PREFIX.", path=("artifact_bucket",))
    t = cfg.get("timeout_seconds")
    if _known(t) and not (isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0):
        d.error("Invalid timeout_seconds", f"timeout_seconds must be a number of seconds above 0, got {t!r}.",
                path=("timeout_seconds",))
    return d


def check_endpoint(cfg: dict[str, Any]) -> Diagnostics:
    d = Diagnostics()
    for attr, low in (("instance_count", 1), ("serverless_max_concurrency", 1), ("serverless_memory_mb", 1024)):
        v = cfg.get(attr)
        if _known(v) and not _whole(v, low):
            d.error(f"Invalid {attr}", f"{attr} must be a whole number of at least {low}, got {v!r}.", path=(attr,))
    mem = cfg.get("serverless_memory_mb")
    if isinstance(mem, (int, float)) and _whole(mem, 1024) and (mem > 6144 or mem % 1024):
        d.error("Invalid serverless_memory_mb", f"serverless_memory_mb = {mem}: SageMaker takes 1024, 2048, ... "
                "6144.", path=("serverless_memory_mb",))
    it = cfg.get("instance_type")
    if _known(it) and not mem and isinstance(it, str) and (not INSTANCE.match(it) or not it.startswith("ml.")):
        d.error(f"Invalid instance type {it!r}", f"SageMaker instance types look like ml.FAMILY.SIZE. Closest: "
                f"{', '.join(closest_instance_types(it))}.", path=("instance_type",))
    return d


def resources(cfg: dict[str, Any]) -> dict[str, Any]:
    """instance_type/instance_count or serverless memory/concurrency, defaults applied (may hold UNKNOWN)."""
    mem = cfg.get("serverless_memory_mb")
    if mem:
        return {"serverless_memory_mb": mem, "serverless_max_concurrency": cfg.get("serverless_max_concurrency") or 5,
                "instance_type": None, "instance_count": 0}
    return {"instance_type": cfg.get("instance_type") or DEFAULT_INSTANCE_TYPE,
            "instance_count": cfg.get("instance_count") or cfg.get("replicas") or 1,
            "serverless_memory_mb": None, "serverless_max_concurrency": None}


def hourly_cost(res: dict[str, Any]) -> Any:
    """Price per hour at the configured count; ``None`` for serverless (billed per use) or an unpriced type."""
    if contains_unknown(res):
        return UNKNOWN
    m = TABLE["instance_types"].get(res["instance_type"]) if res["instance_type"] else None
    if m is None:
        return None
    return round(float(m["price_per_hour"]) * int(res["instance_count"]), 4)


def hardware() -> list[HardwareOption]:
    return [HardwareOption(name, str(m.get("accelerator") or "none"), int(m["vcpus"]), float(m["memory_gib"]),
                           float(m["price_per_hour"]), TABLE["as_of"], float(m.get("speed_factor", 1.0)))
            for name, m in TABLE["instance_types"].items()]


__all__ = ["DEFAULT_IMAGES", "DEFAULT_INSTANCE_TYPE", "DEFAULT_TIMEOUT_S", "TABLE", "check_endpoint",
           "check_provider", "closest_instance_types", "hardware", "hourly_cost", "resources", "sagemaker_schema"]
