"""What a sagemaker endpoint's state holds, and the steps shared by apply and the rollout driver:
a Model for a version, an EndpointConfig of variants, and the state read back from SageMaker."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.sagemaker.client import Api, Progress, SageMakerError, name_part
from mlform.providers.sagemaker.schema import DEFAULT_IMAGES, resources

DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def version_of(digest: Any) -> Any:
    """The variant name of a model digest: ``v-`` and its first 12 hex digits (UNKNOWN while it is)."""
    if contains_unknown(digest):
        return UNKNOWN
    return "v-" + (str(digest) if digest else "unknown").split(":")[-1][:12]


def digest_of(state: dict[str, Any]) -> Any:
    model = state.get("model")
    return model.get("digest") if isinstance(model, dict) else state.get("active_model_digest")


def endpoint_name(state: dict[str, Any], address: str) -> str:
    given = state.get("endpoint_name")
    if isinstance(given, str) and given:
        return given
    return name_part("mlform-" + address.split(".", 1)[-1])


def tags(address: str, operation: str, digest: str = "") -> list[dict[str, str]]:
    out = [{"Key": "mlform-address", "Value": address[:256]}, {"Key": "mlform-operation", "Value": operation}]
    if digest:
        out.append({"Key": "mlform-lineage", "Value": digest})  # the weights this object serves
    return out


def create_model(api: Api, address: str, state: dict[str, Any], operation: str, progress: Progress) -> str:
    """Upload the artifact (unless there) and create a Model for it; its name."""
    model = state.get("model") or {}
    path, digest = model.get("path"), str(model.get("digest") or "")
    if not path or not Path(str(path)).is_file():
        raise SageMakerError(f"Model artifact of {address} not found", f"{path!r} is not a file. Check the "
                             "model's source.", path=("model",))
    uri = api.upload_artifact(Path(str(path)), digest, progress)
    image = state.get("image") or DEFAULT_IMAGES.get(str(model.get("format") or "onnx"), DEFAULT_IMAGES["onnx"])
    name = name_part(f"{endpoint_name(state, address)[:36]}-{version_of(digest)}-{uuid.uuid4().hex[:8]}")
    progress(f"creating model {name}")
    api.call("sagemaker", "CreateModel", name, ModelName=name, ExecutionRoleArn=api.role,
             PrimaryContainer={"Image": str(image), "ModelDataUrl": uri,
                               "Environment": {"MLFORM_MODEL_FILE": Path(str(path)).name,
                                               "MLFORM_MODEL_FORMAT": str(model.get("format") or "onnx")}},
             Tags=tags(address, operation, digest))
    return name


def variant(model_name: str, vid: str, state: dict[str, Any], weight: float, count: int | None = None
            ) -> dict[str, Any]:
    res = resources(state)
    v: dict[str, Any] = {"VariantName": vid, "ModelName": model_name, "InitialVariantWeight": float(weight)}
    if res["serverless_memory_mb"]:
        v["ServerlessConfig"] = {"MemorySizeInMB": int(res["serverless_memory_mb"]),
                                 "MaxConcurrency": int(res["serverless_max_concurrency"])}
    else:
        v.update(InstanceType=str(res["instance_type"]), InitialInstanceCount=int(count or res["instance_count"]))
    return v


def create_config(api: Api, address: str, state: dict[str, Any], variants: list[dict[str, Any]], operation: str,
                  progress: Progress) -> str:
    """A new, uniquely named EndpointConfig with ``variants``; its name."""
    name = name_part(f"{endpoint_name(state, address)[:44]}-{uuid.uuid4().hex[:12]}")
    progress(f"creating endpoint config {name}")
    api.call("sagemaker", "CreateEndpointConfig", name, EndpointConfigName=name, ProductionVariants=variants,
             Tags=tags(address, operation))
    return name


def live(api: Api, ep: dict[str, Any]) -> dict[str, Any]:
    """What SageMaker says ``ep`` serves: config, variants (model, weight, type, count), the digest of the
    variant with the most weight (from its Model's mlform-lineage tag), traffic in percent."""
    cfg = api.describe_config(str(ep["EndpointConfigName"])) or {"ProductionVariants": []}
    configured = {v["VariantName"]: v for v in cfg.get("ProductionVariants", [])}
    variants = []
    for v in ep.get("ProductionVariants", []):
        c = configured.get(v["VariantName"], {})
        variants.append({"name": v["VariantName"], "model": c.get("ModelName"),
                         "weight": float(v.get("CurrentWeight", c.get("InitialVariantWeight", 1.0)) or 0.0),
                         "instance_type": c.get("InstanceType"),
                         "count": v.get("CurrentInstanceCount", c.get("InitialInstanceCount")),
                         "serverless": c.get("ServerlessConfig")})
    total = sum(v["weight"] for v in variants) or 1.0
    traffic = {v["name"]: round(100 * v["weight"] / total) for v in variants}
    top = max(variants, key=lambda v: v["weight"], default=None)
    return {"config": ep["EndpointConfigName"], "variants": variants, "traffic": traffic, "top": top}


def model_digest(api: Api, model_name: str) -> str | None:
    try:
        arn = api.call("sagemaker", "DescribeModel", model_name, ModelName=model_name)["ModelArn"]
    except SageMakerError:
        return None
    found = api.tags(arn).get("mlform-lineage", "")
    return found if DIGEST.match(found) else None


def endpoint_state(api: Api, ep: dict[str, Any], imported: bool = False) -> dict[str, Any]:
    """The attributes SageMaker says ``ep`` has now (drift: a swapped config, weights, counts)."""
    now = live(api, ep)
    top = now["top"] or {}
    out: dict[str, Any] = {
        "endpoint_name": ep["EndpointName"], "endpoint_config_name": now["config"],
        "url": f"https://runtime.sagemaker.{api.region}.amazonaws.com/endpoints/{ep['EndpointName']}/invocations",
        "traffic": now["traffic"], "model_name": top.get("model"), "variant_name": top.get("name"),
        "instance_type": top.get("instance_type"), "replicas": top.get("count") or 0,
        "active_model_digest": model_digest(api, str(top["model"])) if top.get("model") else None}
    if imported:
        if top.get("serverless"):
            out.update(serverless_memory_mb=top["serverless"].get("MemorySizeInMB"),
                       serverless_max_concurrency=top["serverless"].get("MaxConcurrency"))
        digest = out["active_model_digest"]
        out["artifact_uri"] = api.artifact_uri(digest) if digest else None
    return out


def retire(api: Api, configs: list[str], models: list[str], progress: Progress) -> None:
    """Delete EndpointConfigs and Models no longer in service (after an update succeeded)."""
    for c in configs:
        progress(f"deleting endpoint config {c}")
        api.delete("EndpointConfig", c)
    for m in models:
        progress(f"deleting model {m}")
        api.delete("Model", m)


__all__ = ["create_config", "create_model", "digest_of", "endpoint_name", "endpoint_state", "live", "model_digest",
           "retire", "tags", "variant", "version_of"]
