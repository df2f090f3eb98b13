"""What a vertex endpoint's state holds, and the steps shared by apply and the rollout driver:
deploy a version (artifact, registry version, deployed model) and keep one version only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import v2_model_name
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.vertex.client import Api, Progress, VertexError
from mlform.providers.vertex.schema import resources

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def version_of(digest: Any) -> Any:
    """The served version id of a model digest: ``v-`` and its first 12 hex digits (UNKNOWN while it is)."""
    if contains_unknown(digest):
        return UNKNOWN
    return "v-" + (str(digest) if digest else "unknown").split(":")[-1][:12]


def vid_of_state(state: dict[str, Any]) -> Any:
    model = state.get("model")
    digest = model.get("digest") if isinstance(model, dict) else state.get("active_model_digest")
    return version_of(digest)


def deploy_version(api: Api, address: str, endpoint: str, state: dict[str, Any], split: dict[str, int],
                   progress: Progress) -> Any:
    """Upload ``state``'s artifact (unless there), register it as a new model version, deploy it with
    ``split`` (``"0"`` is the new deployed model); the deployed model."""
    model = state.get("model") or {}
    path, digest = model.get("path"), str(model.get("digest") or "")
    if not path or not Path(str(path)).is_file():
        raise VertexError(f"Model artifact of {address} not found", f"{path!r} is not a file. Check the model's "
                          "source.", path=("model",))
    vid = version_of(digest)
    uri = api.upload_artifact(str(path), digest, progress)
    progress(f"registering {vid} in the Vertex AI Model Registry")
    ref = api.upload_model(str(model.get("address") or address), address, digest, v2_model_name(address), vid, uri,
                           Path(str(path)).name, str(model.get("format") or "onnx"), progress)
    progress(f"deploying {vid} to {endpoint}")
    return api.deploy(endpoint, ref, vid, resources(state), split, progress)


def model_ref(dm: Any) -> str:
    return f"{dm.model.split('@')[0]}@{dm.model_version_id}" if dm.model_version_id else str(dm.model)


def keep_only(api: Api, address: str, endpoint: str, state: dict[str, Any], keep: str, operation: str,
              progress: Progress) -> dict[str, Any]:
    """All traffic on the deployed model of version ``keep``, every other one undeployed; the state to record."""
    ep = api.get_endpoint(endpoint)
    if ep is None:
        raise VertexError(f"Endpoint {endpoint} no longer exists", "It was deleted outside mlform. Run `mlform "
                          "apply` to create it again.")
    dm = next((d for d in ep.deployed_models if d.display_name == keep), None)
    if dm is None:
        raise VertexError(f"Version {keep} is no longer deployed on {endpoint}",
                          "It was undeployed outside mlform. Run `mlform apply` again to deploy it.")
    if {k: v for k, v in ep.traffic_split.items() if v} != {dm.id: 100}:  # a 0% model is undeployed as is
        progress(f"sending all traffic to {keep}")
        api.set_split(endpoint, {dm.id: 100, **{d.id: 0 for d in ep.deployed_models if d.id != dm.id}}, operation)
    for other in ep.deployed_models:
        if other.id != dm.id:
            progress(f"undeploying {other.display_name or other.id}")
            api.undeploy(endpoint, other.id, {dm.id: 100}, progress)
    model = state.get("model") if isinstance(state.get("model"), dict) else {}
    digest = (model or {}).get("digest") or state.get("active_model_digest")
    return {**state, "endpoint_name": ep.name, "url": api.invoke_url(ep), "deployed_model_id": dm.id,
            "model_resource": model_ref(dm), "artifact_uri": api.artifact_uri(str(digest or "")),
            "traffic": {keep: 100}, "active_model_digest": digest}


def endpoint_state(api: Api, ep: Any, recorded: Any, imported: bool = False) -> dict[str, Any]:
    """The attributes Vertex says ``ep`` has now. ``recorded``: the deployed model state holds (``None``
    when it is gone); ``imported``: adopt the deployed model with the most traffic, and its settings."""
    split = dict(ep.traffic_split)
    traffic = {(d.display_name or d.id): split.get(d.id, 0) for d in ep.deployed_models}
    if imported:
        dm = max(ep.deployed_models, key=lambda d: split.get(d.id, 0), default=None)
    else:
        dm = next((d for d in ep.deployed_models if d.id == recorded), None)
    out: dict[str, Any] = {"endpoint_name": ep.name, "url": api.invoke_url(ep), "traffic": traffic,
                           "deployed_model_id": dm.id if dm is not None else None,
                           "model_resource": model_ref(dm) if dm is not None else None}
    if dm is None:
        out["active_model_digest"] = None
        return out
    if imported:
        # What is deployed, as planning compares it (schema.replaced_by), not as configured.
        res = dm.dedicated_resources
        mt, lo, hi = res.machine_spec.machine_type, res.min_replica_count, res.max_replica_count
        out.update(instance_type=mt, replicas=lo, **({"max_replicas": hi} if hi != lo else {}))
        if res.machine_spec.accelerator_type:
            out.update(accelerator_type=res.machine_spec.accelerator_type.name,
                       accelerator_count=res.machine_spec.accelerator_count)
        m = api.call("GetModel", api.models.get_model, name=model_ref(dm))
        found = DIGEST.search(m.version_description or "")
        out["active_model_digest"] = found.group(0) if found else None
        out["artifact_uri"] = m.artifact_uri
    return out


__all__ = ["deploy_version", "endpoint_state", "keep_only", "model_ref", "version_of", "vid_of_state"]
