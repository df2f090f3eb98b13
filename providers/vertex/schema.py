"""What the vertex provider declares: its provider block, the endpoint attributes it
takes beyond the common schema, the checks of both, and the shipped price table.

The deployment settings (machine type, accelerator, replica bounds) are the
deployed model's ``dedicated_resources``; Vertex cannot change them on a
deployed model, so a change replaces the endpoint. Planning compares them as
deployed (``instance_type``, ``replicas``, ... in state) with what the
configuration resolves to (``machine_type``, else the ``instance_type`` the
constraint solver picked), so an imported endpoint deployed with the same
settings is not replaced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.providers.protocol import HardwareOption
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown

DEFAULT_MACHINE_TYPE = "n1-standard-2"
DEFAULT_TIMEOUT_S = 1800.0
DEFAULT_IMAGE = "us-docker.pkg.dev/mlform/serving/v2-server:latest"

PROVIDER = BlockSpec(attrs={
    "project": AttrSpec("string", required=True, description="the Google Cloud project id"),
    "location": AttrSpec("string", required=True, description="the Vertex AI region, e.g. us-central1"),
    "staging_bucket": AttrSpec("string", required=True,
                               description="gs://BUCKET[/PREFIX] where model artifacts are uploaded "
                                           "(content-addressed: an artifact already there is not uploaded again)"),
    "api_endpoint": AttrSpec("string", description="host:port of the Vertex AI API instead of "
                                                   "LOCATION-aiplatform.googleapis.com (testing: a 127.0.0.1 address "
                                                   "is reached over an insecure channel with no credentials)"),
    "timeout_seconds": AttrSpec("number", description="how long one long-running operation (upload, deploy, "
                                                      f"undeploy) may take. Default {DEFAULT_TIMEOUT_S:g}"),
    "serving_image": AttrSpec("string", description="the container image serving mlform's V2 protocol. "
                                                    f"Default {DEFAULT_IMAGE}"),
})

ENDPOINT = BlockSpec(attrs={
    "machine_type": AttrSpec("string",
                             description=f"the deployed model's machine type. Default: instance_type, else "
                                         f"{DEFAULT_MACHINE_TYPE}"),
    "accelerator_type": AttrSpec("string", description="e.g. NVIDIA_TESLA_T4; unset: the machine type's own "
                                                       "GPUs (g2, a2), else none"),
    "accelerator_count": AttrSpec("number", description="accelerators per replica. Default 1 "
                                                                        "with accelerator_type"),
    "min_replicas": AttrSpec("number", description="Default: replicas, else 1"),
    "max_replicas": AttrSpec("number", description="Default: min_replicas"),
    "endpoint_name": AttrSpec("string", computed=True,
                              description="projects/P/locations/L/endpoints/ID"),
    "deployed_model_id": AttrSpec("string", computed=True, description="the deployed model serving all traffic"),
    "model_resource": AttrSpec("string", computed=True,
                               description="the registry model version deployed (projects/P/locations/L/models/M@V)"),
    "artifact_uri": AttrSpec("string", computed=True, description="where the artifact was uploaded in GCS"),
})

TABLE: dict[str, Any] = json.loads((Path(__file__).parent / "prices.json").read_text())


def vertex_schema() -> GetSchemaResponse:
    return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})


def _known(v: Any) -> bool:
    return v is not None and not contains_unknown(v)


def check_provider(cfg: dict[str, Any]) -> Diagnostics:
    d = Diagnostics()
    bucket = cfg.get("staging_bucket")
    if _known(bucket) and not (isinstance(bucket, str) and bucket.startswith("gs://") and len(bucket) > 5):
        d.error("Invalid staging_bucket", f"staging_bucket = {bucket!r}: write it as gs://BUCKET or "
                "gs://BUCKET/PREFIX.", path=("staging_bucket",))
    t = cfg.get("timeout_seconds")
    if _known(t) and not (isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0):
        d.error("Invalid timeout_seconds", f"timeout_seconds must be a number of seconds above 0, got {t!r}.",
                path=("timeout_seconds",))
    return d


def check_endpoint(cfg: dict[str, Any]) -> Diagnostics:
    d = Diagnostics()
    for attr in ("accelerator_count", "min_replicas", "max_replicas"):
        v = cfg.get(attr)
        if _known(v) and not (isinstance(v, (int, float)) and not isinstance(v, bool) and float(v).is_integer()
                              and v >= 1):
            d.error(f"Invalid {attr}", f"{attr} must be a whole number of at least 1, got {v!r}.", path=(attr,))
    lo, hi = cfg.get("min_replicas"), cfg.get("max_replicas")
    if _known(lo) and _known(hi) and isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and hi < lo:
        d.error("max_replicas is below min_replicas", f"max_replicas = {hi} but min_replicas = {lo}: Vertex "
                "scales a deployed model between the two.", path=("max_replicas",))
    acc = cfg.get("accelerator_type")
    if _known(acc) and acc not in TABLE["accelerators"]:
        d.warning(f"Accelerator {acc} has no price in mlform's table",
                  f"The plan's cost estimate leaves it out. Priced accelerators: "
                  f"{', '.join(sorted(TABLE['accelerators']))}.", path=("accelerator_type",))
    return d


def resources(cfg: dict[str, Any]) -> dict[str, Any]:
    """machine_type, accelerator_type/count, min/max replicas, defaults applied (may hold UNKNOWN)."""
    mt = cfg.get("machine_type") or cfg.get("instance_type") or DEFAULT_MACHINE_TYPE
    lo = cfg.get("min_replicas") or cfg.get("replicas") or 1
    acc = cfg.get("accelerator_type")
    bundled = TABLE["machine_types"].get(mt, {}) if isinstance(mt, str) else {}
    if not acc and bundled.get("accelerator"):  # g2/a2 come with their GPUs, which Vertex wants named
        acc = bundled["accelerator"]
    count = cfg.get("accelerator_count") or (bundled.get("accelerator_count") if acc == bundled.get("accelerator")
                                             else None) or 1
    return {"machine_type": mt, "accelerator_type": acc,
            "accelerator_count": count if acc else 0,
            "min_replicas": lo, "max_replicas": cfg.get("max_replicas") or lo}


def replaced_by(prior: dict[str, Any], res: dict[str, Any]) -> list[tuple[str, ...]]:
    """The settings whose change from what is deployed (``prior``) replaces the endpoint."""
    deployed = {"machine_type": prior.get("instance_type"), "min_replicas": prior.get("replicas"),
                "max_replicas": prior.get("max_replicas") or prior.get("replicas"),
                "accelerator_type": prior.get("accelerator_type"),
                "accelerator_count": prior.get("accelerator_count") or (1 if prior.get("accelerator_type") else 0)}
    out: list[tuple[str, ...]] = []
    for k, v in res.items():
        if not contains_unknown(v) and deployed[k] is not None and deployed[k] != v and (k != "accelerator_count"
                                                                                      or res["accelerator_type"]):
            out.append(("instance_type",) if k == "machine_type" else (k,))
        elif k == "accelerator_type" and v is None and deployed[k] is not None:
            out.append((k,))
    return out


def hourly_cost(res: dict[str, Any]) -> Any:
    """Price per hour of ``res`` at min replicas from the table; ``None`` when the machine type has no price."""
    if contains_unknown(res):
        return UNKNOWN
    m = TABLE["machine_types"].get(res["machine_type"])
    if m is None:
        return None
    price = float(m["price_per_hour"])
    acc = res.get("accelerator_type")
    if acc and acc != m.get("accelerator") and acc in TABLE["accelerators"]:
        price += float(TABLE["accelerators"][acc]["price_per_hour"]) * int(res["accelerator_count"])
    return round(price * int(res["min_replicas"]), 4)


def hardware() -> list[HardwareOption]:
    out = []
    for name, m in TABLE["machine_types"].items():
        acc = str(m.get("accelerator") or "none").lower().replace("_", "-")
        speed = float(TABLE["accelerators"].get(m.get("accelerator") or "", {}).get("speed_factor", 1.0))
        out.append(HardwareOption(name, acc, int(m["vcpus"]), float(m["memory_gib"]), float(m["price_per_hour"]),
                                  TABLE["as_of"], speed))
    return out


__all__ = ["DEFAULT_IMAGE", "DEFAULT_MACHINE_TYPE", "DEFAULT_TIMEOUT_S", "TABLE", "check_endpoint",
           "check_provider", "hardware", "hourly_cost", "replaced_by", "resources", "vertex_schema"]
