"""The vertex provider: endpoints on Google Vertex AI (docs/vertex.md).

One mlform endpoint is one Vertex endpoint (dedicated, so its models answer
``invoke`` routes) with one deployed model serving all traffic; during a
rollout (``rollout.py``) the new version is deployed beside it. Artifacts go
to GCS under content-addressed paths, and each new artifact is a new version
of one registry model per mlform model. State records the endpoint, the
deployed model and its registry version; ``read`` notices a traffic split
edited outside mlform, a model undeployed and an endpoint deleted, so
``plan`` shows them.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, ConfigureRequest, ConfigureResponse, FindOrphansRequest,
    FindOrphansResponse, ImportResourceRequest, ImportResourceResponse, ListHardwareResponse, PlanChangeRequest,
    PlanChangeResponse, ProviderBase, ReadRequest, ReadResponse, ValidateConfigRequest, ValidateConfigResponse,
)
from mlform.engine.providers.rollout import RolloutDriver
from mlform.engine.providers.schema import GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.vertex.client import Api, VertexError, label
from mlform.providers.vertex.schema import (
    check_endpoint, check_provider, hardware, hourly_cost, replaced_by, resources, vertex_schema,
)
from mlform.providers.vertex.state import (
    deploy_version, keep_only, endpoint_state, version_of, vid_of_state,
)

__all__ = ["VertexProvider"]

COMPUTED = ("endpoint_name", "deployed_model_id", "model_resource", "artifact_uri", "url")


class VertexProvider(ProviderBase):
    name = "vertex"
    kinds = ("endpoint",)
    extra = "gcp"

    def __init__(self) -> None:
        super().__init__()
        self._api: Api | None = None

    def get_schema(self) -> GetSchemaResponse:
        return vertex_schema()

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        return ValidateConfigResponse(diagnostics=check_endpoint(req.config))

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        resp = super().configure(req)
        if resp.diagnostics.has_errors:  # the [gcp] extra is missing
            return resp
        resp.diagnostics.extend(check_provider(self.config))
        return resp

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.config)
        return self._api

    def rollouts(self) -> RolloutDriver:
        from mlform.providers.vertex.rollout import VertexRollout

        return VertexRollout(self.api)

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=hardware())

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    # --- plan ----------------------------------------------------------------------------
    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        cfg = dict(req.config)
        resp = PlanChangeResponse(planned_state=None)
        resp.diagnostics.extend(check_endpoint(cfg))
        if resp.diagnostics.has_errors:
            return resp
        prior = req.prior_state or {}
        model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
        digest = model.get("digest", UNKNOWN) if model else UNKNOWN
        vid = version_of(digest)
        res = resources(cfg)
        cost = hourly_cost(res)
        planned: dict[str, Any] = {**cfg, "instance_type": res["machine_type"], "replicas": res["min_replicas"],
                                   "estimated_cost_per_hour": cost, "estimated_cost_per_million": None,
                                   "estimated_p99_ms": None, "active_model_digest": digest, "device":
                                   "cpu" if not res["accelerator_type"] else str(res["accelerator_type"]).lower(),
                                   "traffic": {vid: 100} if not contains_unknown(vid) else UNKNOWN,
                                   "max_replicas": res["max_replicas"] if cfg.get("max_replicas") else None}
        if res["accelerator_type"] and not cfg.get("accelerator_type"):  # a machine type's own GPUs
            planned.update(accelerator_type=res["accelerator_type"], accelerator_count=res["accelerator_count"])
        if prior:
            resp.requires_replace.extend(replaced_by(prior, res))
        if prior and not resp.requires_replace:
            planned.update(endpoint_name=prior.get("endpoint_name"), url=prior.get("url"))
            same = prior.get("active_model_digest") == digest and prior.get("deployed_model_id")
            if same and prior.get("traffic") == planned["traffic"]:
                planned.update({k: prior.get(k) for k in ("deployed_model_id", "model_resource", "artifact_uri")})
            else:
                planned.update(deployed_model_id=UNKNOWN, model_resource=UNKNOWN, artifact_uri=UNKNOWN)
                # A new model beside one still deployed is rolled out; a repair (the split edited or
                # the model undeployed outside mlform) is applied at once.
                resp.rollout = bool(prior.get("deployed_model_id")) and prior.get("active_model_digest") != digest
        else:
            planned.update({k: UNKNOWN for k in COMPUTED})
        if resp.rollout and isinstance(cfg.get("rollout"), dict) and cfg["rollout"].get("rollback_when"):
            resp.diagnostics.warning(
                f"The rollout of {req.address} is judged on mlform's own probe requests",
                "During each bake mlform sends probe requests (zeros shaped like the model's inputs) to the "
                "new deployed model and judges rollback_when on their errors and latency: the aiplatform API "
                "reports no per-deployed-model request figures. See docs/vertex.md.", path=("rollout",))
        resp.estimates = {"cost_per_hour": cost, "instance_type": res["machine_type"], "replicas": res["min_replicas"],
                          "device": planned["device"],
                          "before": {"cost_per_hour": prior.get("estimated_cost_per_hour")} if prior else None}
        resp.planned_state = planned
        return resp

    # --- apply ---------------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        created = None
        try:
            if req.action == "delete":
                self._delete(req)
                return resp
            planned = dict(req.planned_state or {})
            ep = created = None
            if req.action == "update" and (req.prior_state or {}).get("endpoint_name"):
                ep = self.api.get_endpoint(str(req.prior_state["endpoint_name"]))  # type: ignore[index]
            if ep is None:
                req.progress("creating Vertex AI endpoint")
                ep = created = self.api.create_endpoint(label(req.address.replace(".", "-")), {
                    "mlform-address": label(req.address), "mlform-operation": label(req.operation_id)}, req.progress)
            vid = vid_of_state(planned)
            dm = next((d for d in ep.deployed_models if d.display_name == vid), None)
            if dm is None:
                others = [d.id for d in ep.deployed_models]
                dm = deploy_version(self.api, req.address, ep.name, planned,
                                    {"0": 100, **{o: 0 for o in others}}, req.progress)
            resp.new_state = keep_only(self.api, req.address, ep.name, planned, vid, req.operation_id, req.progress)
        except VertexError as e:
            e.add_to(resp.diagnostics)
            resp.new_state = None
            if created is not None:
                self._drop_empty(created.name, req.progress)
        return resp

    def _drop_empty(self, name: str, progress: Any) -> None:
        """Delete an endpoint this apply created when no model got deployed on it (quota, a refused
        machine type): the next apply starts clean instead of leaving an empty endpoint behind. One
        whose deployment still runs (a timeout) is left for find_orphans to adopt."""
        try:
            ep = self.api.get_endpoint(name)
            if ep is not None and not ep.deployed_models:
                progress(f"deleting {name}: no model was deployed on it")
                self.api.delete_endpoint(name, progress)
        except VertexError:
            pass

    def _delete(self, req: ApplyChangeRequest) -> None:
        name = (req.prior_state or {}).get("endpoint_name")
        ep = self.api.get_endpoint(str(name)) if name else None
        if ep is None:
            return
        dms = sorted(ep.deployed_models, key=lambda d: ep.traffic_split.get(d.id, 0))
        for i, d in enumerate(dms):
            last = dms[-1].id
            req.progress(f"undeploying {d.display_name or d.id}", fraction=i / (len(dms) + 1))
            self.api.undeploy(ep.name, d.id, {last: 100} if d.id != last else {}, req.progress)
        req.progress(f"deleting {ep.name}")
        self.api.delete_endpoint(ep.name, req.progress)

    # --- refresh, import, orphans ---------------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        name = req.state.get("endpoint_name")
        if not name:
            return ReadResponse(state=req.state)
        resp = ReadResponse(state=None)
        try:
            ep = self.api.get_endpoint(str(name))
        except VertexError as e:
            e.add_to(resp.diagnostics)
            resp.state = req.state
            return resp
        if ep is None:
            resp.diagnostics.warning(f"Vertex AI endpoint of {req.address} is gone",
                                     f"{name} was deleted outside mlform. The next apply creates it again.")
            return resp
        state = {**req.state, **endpoint_state(self.api, ep, req.state.get("deployed_model_id"))}
        if state.get("deployed_model_id") is None:
            resp.diagnostics.warning(f"The deployed model of {req.address} was undeployed outside mlform",
                                     f"{name} no longer has deployed model {req.state.get('deployed_model_id')}. "
                                     "The next apply deploys the configured model again.")
        elif len(ep.deployed_models) > 1:
            new = max((d for d in ep.deployed_models if d.id != state["deployed_model_id"]),
                      key=lambda d: ep.traffic_split.get(d.id, 0))
            pct = ep.traffic_split.get(new.id, 0)
            resp.diagnostics.warning(
                f"Rollout of {new.display_name} on {req.address} was interrupted at {pct}%",
                f"An earlier apply stopped half-way: {new.display_name} takes {pct}% of the traffic. The next apply "
                f"rolls back to {vid_of_state(req.state)}, the last fully promoted version, first.")
        resp.state = state
        return resp

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        resp = ImportResourceResponse(state=None)
        parts = req.id.split("/")
        if len(parts) != 6 or parts[0::2] != ["projects", "locations", "endpoints"]:
            resp.diagnostics.error("Invalid Vertex AI endpoint id", f"{req.id!r} is not an endpoint name: "
                                   "write projects/PROJECT/locations/LOCATION/endpoints/ID.")
            return resp
        try:
            ep = self.api.get_endpoint(req.id)
            if ep is None:
                resp.diagnostics.error(f"Vertex AI endpoint {req.id} does not exist",
                                       "Check the id with `gcloud ai endpoints list`.")
                return resp
            resp.state = endpoint_state(self.api, ep, None, imported=True)
        except VertexError as e:
            e.add_to(resp.diagnostics)
        return resp

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        """An endpoint this operation created but state never recorded (the apply was killed)."""
        try:
            found = self.api.find_endpoints({"mlform-address": label(req.address),
                                             "mlform-operation": label(req.operation_id)})
            for ep in found:
                if ep.deployed_models:
                    return FindOrphansResponse(state=endpoint_state(self.api, ep, None, imported=True))
                self.api.delete_endpoint(ep.name, lambda *_a, **_k: None)  # half made: nothing worth adopting
        except VertexError:
            pass
        return FindOrphansResponse(state=None)
