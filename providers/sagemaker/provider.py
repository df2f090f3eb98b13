"""The sagemaker provider: endpoints on Amazon SageMaker (docs/sagemaker.md).

One mlform endpoint is one SageMaker Endpoint, its EndpointConfig and the
Model of the version serving all traffic. A changed model or serving setting
never deletes what serves: a new Model (when the weights or image changed)
and a new, uniquely named EndpointConfig, then UpdateEndpoint; the old ones
are deleted only once the endpoint is InService on the new ones. An instance
count changed by autoscaling is kept when the configured count did not
change. ``read`` notices an endpoint deleted, its config swapped, and
weights or instance counts changed outside mlform, so ``plan`` shows them.
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
from mlform.providers.sagemaker import autoscaling
from mlform.providers.sagemaker.client import Api, SageMakerError
from mlform.providers.sagemaker.schema import (
    check_endpoint, check_provider, hardware, hourly_cost, resources, sagemaker_schema,
)
from mlform.providers.sagemaker.state import (
    create_config, create_model, digest_of, endpoint_name, endpoint_state, live, retire, tags, variant, version_of,
)

__all__ = ["SageMakerProvider"]

COMPUTED = ("endpoint_name", "endpoint_config_name", "model_name", "variant_name", "artifact_uri", "url")


def _served_as(state: dict[str, Any]) -> dict[str, Any]:
    """The serving settings as planning compares them: type, count, serverless, image."""
    res = resources(state)
    return {"instance_type": res["instance_type"], "replicas": res["instance_count"] or 0,
            "serverless_memory_mb": res["serverless_memory_mb"], "image": state.get("image")}


def _counted(planned: dict[str, Any]) -> dict[str, Any]:
    """Under autoscaling, state records the configured count, not the live one autoscaling sets (no drift)."""
    return {"replicas": planned.get("replicas")} if autoscaling.bounds(planned.get("autoscaling")) else {}


class SageMakerProvider(ProviderBase):
    name = "sagemaker"
    kinds = ("endpoint",)
    extra = "aws"

    def __init__(self) -> None:
        super().__init__()
        self._api: Api | None = None
        self._driver: RolloutDriver | None = None

    def get_schema(self) -> GetSchemaResponse:
        return sagemaker_schema()

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        return ValidateConfigResponse(diagnostics=check_endpoint(req.config))

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        resp = super().configure(req)
        if resp.diagnostics.has_errors:  # the [aws] extra is missing
            return resp
        resp.diagnostics.extend(check_provider(self.config))
        return resp

    @property
    def api(self) -> Api:
        if self._api is None:
            self._api = Api(self.config)
        return self._api

    def rollouts(self) -> RolloutDriver | None:
        from mlform.providers.sagemaker.rollout import SageMakerRollout

        if self._driver is None:
            self._driver = SageMakerRollout(self.api, str(self.config.get("rollout_mode") or "driven"))
        return self._driver

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=hardware())

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
        digest = digest_of(cfg) if isinstance(cfg.get("model"), dict) else UNKNOWN
        vid = version_of(digest)
        res = resources(cfg)
        cost = hourly_cost(res)
        want = _served_as(cfg)
        planned: dict[str, Any] = {
            **cfg, "instance_type": res["instance_type"], "replicas": res["instance_count"],
            "estimated_cost_per_hour": cost, "estimated_cost_per_million": None, "estimated_p99_ms": None,
            "active_model_digest": digest, "device": "cpu", "max_replicas": None,
            "traffic": {vid: 100} if not contains_unknown(vid) else UNKNOWN}
        if prior.get("endpoint_name"):
            planned.update(endpoint_name=prior["endpoint_name"], url=prior.get("url"))
            had = {"instance_type": prior.get("instance_type"), "replicas": prior.get("replicas"),
                   "serverless_memory_mb": prior.get("serverless_memory_mb"), "image": prior.get("image")}
            same = (prior.get("active_model_digest") == digest and prior.get("traffic") == planned["traffic"]
                    and had == want and prior.get("model_name"))
            if same:
                planned.update({k: prior.get(k) for k in COMPUTED})
            else:
                planned.update({k: UNKNOWN for k in COMPUTED if k not in ("endpoint_name", "url")})
                # New weights beside a version in service are rolled out; a repair or a new serving setting
                # is an UpdateEndpoint to a new EndpointConfig (blue/green by SageMaker).
                resp.rollout = bool(prior.get("model_name")) and bool(prior.get("active_model_digest")) and \
                    prior.get("active_model_digest") != digest and had == want
        else:
            planned.update({k: UNKNOWN for k in COMPUTED})
        resp.estimates = {"cost_per_hour": cost, "instance_type": res["instance_type"] or "serverless",
                          "replicas": res["instance_count"], "device": "cpu",
                          "before": {"cost_per_hour": prior.get("estimated_cost_per_hour")} if prior else None}
        resp.planned_state = planned
        return resp

    # --- apply ---------------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        try:
            if req.action == "delete":
                self._delete(req)
                return resp
            resp.new_state = self._put(req)
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
            resp.new_state = getattr(e, "state", None)  # the endpoint serves; only its autoscaling failed
        return resp

    def _scale(self, name: str, state: dict[str, Any], old: list[str], progress: Any) -> dict[str, Any]:
        """Autoscaling synced for the endpoint ``state`` describes; a refusal keeps ``state`` (autoscaling
        unset, so the next plan shows it to apply again) on the error."""
        try:
            autoscaling.sync(self.api, name, str(state["variant_name"]), state, old, progress)
        except SageMakerError as e:
            e.state = {**state, "autoscaling": None}  # type: ignore[attr-defined]
            raise
        return state

    def _put(self, req: ApplyChangeRequest) -> dict[str, Any]:
        api, planned, prior = self.api, dict(req.planned_state or {}), dict(req.prior_state or {})
        name = endpoint_name(prior or planned, req.address)
        ep = api.describe_endpoint(name) if prior.get("endpoint_name") else None
        digest, vid = digest_of(planned), version_of(digest_of(planned))
        before = live(api, ep) if ep else None
        if ep is not None and before is not None and isinstance(planned.get("endpoint_config_name"), str) and \
                planned["endpoint_config_name"] == before["config"]:
            now = endpoint_state(api, ep)  # only mlform's own attributes or the autoscaling bounds changed
            return self._scale(name, {**planned, **now, **_counted(planned)}, [], req.progress)
        reuse = (ep is not None and prior.get("active_model_digest") == digest and prior.get("image") ==
                 planned.get("image") and prior.get("model_name") and
                 any(v["model"] == prior["model_name"] for v in before["variants"]))  # type: ignore[index]
        model = str(prior["model_name"]) if reuse else create_model(api, req.address, {**planned, "endpoint_name":
                                                                                        name}, req.operation_id,
                                                                     req.progress)
        count = None
        if before and before["top"] and prior.get("replicas") == resources(planned)["instance_count"] and \
                before["top"]["count"] and prior.get("instance_type") == planned.get("instance_type"):
            count = int(before["top"]["count"])  # kept: autoscaling may have set it
        try:
            config = create_config(api, req.address, {**planned, "endpoint_name": name},
                                   [variant(model, vid, planned, 1.0, count)], req.operation_id, req.progress)
        except SageMakerError:
            retire(api, [], [] if reuse else [model], req.progress)
            raise
        try:
            if ep is None:
                req.progress(f"creating endpoint {name}")
                api.call("sagemaker", "CreateEndpoint", name, EndpointName=name, EndpointConfigName=config,
                         Tags=tags(req.address, req.operation_id, str(digest)))
            else:
                req.progress(f"updating endpoint {name} to {config}")
                api.call("sagemaker", "UpdateEndpoint", name, EndpointName=name, EndpointConfigName=config)
        except SageMakerError:  # refused: what this apply made for it serves nothing, so it is not left behind
            retire(api, [config], [] if reuse else [model], req.progress)
            raise
        done = api.wait(name, req.progress, "creating" if ep is None else "updating")
        if ep is not None:
            if done["EndpointConfigName"] != config:
                raise SageMakerError(f"SageMaker rolled back the update of {name}",
                                     f"The endpoint is back on {done['EndpointConfigName']}: "
                                     f"{done.get('FailureReason') or 'no reason given'}.")
            assert before is not None
            retire(api, [before["config"]],
                   [str(v["model"]) for v in before["variants"] if v["model"] and v["model"] != model], req.progress)
        state = {**planned, **endpoint_state(api, done), "artifact_uri": api.artifact_uri(str(digest))}
        state["active_model_digest"] = digest
        state.update(_counted(planned))
        return self._scale(name, state, [str(prior.get("variant_name") or "")], req.progress)

    def _delete(self, req: ApplyChangeRequest) -> None:
        prior = req.prior_state or {}
        name = prior.get("endpoint_name")
        ep = self.api.describe_endpoint(str(name)) if name else None
        if ep is None:
            return
        now = live(self.api, ep)
        for v in now["variants"]:
            autoscaling.deregister(self.api, str(name), str(v["name"]), req.progress)
        req.progress(f"deleting endpoint {name}")
        self.api.delete("Endpoint", str(name))
        retire(self.api, [now["config"]], [str(v["model"]) for v in now["variants"] if v["model"]], req.progress)

    # --- refresh, import, orphans ---------------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        name = req.state.get("endpoint_name")
        if not name:
            return ReadResponse(state=req.state)
        resp = ReadResponse(state=None)
        try:
            ep = self.api.describe_endpoint(str(name))
            if ep is None:
                resp.diagnostics.warning(f"SageMaker endpoint of {req.address} is gone",
                                         f"{name} was deleted outside mlform. The next apply creates it again.")
                return resp
            state = {**req.state, **endpoint_state(self.api, ep)}
            if isinstance(req.state.get("autoscaling"), dict):  # without one, no application-autoscaling call
                state["autoscaling"] = autoscaling.observed(self.api, str(name), str(state["variant_name"]), req.state)
                if state["autoscaling"] is not None:
                    state["replicas"] = req.state.get("replicas")  # the live count is autoscaling's to set
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
            resp.state = req.state
            return resp
        if len(state["traffic"]) > 1:
            resp.diagnostics.warning(f"A rollout on {req.address} was interrupted",
                                     f"{name} splits traffic {state['traffic']}. The next apply goes back to "
                                     f"{req.state.get('variant_name')}, the last fully promoted version, first.")
            state["variant_name"] = req.state.get("variant_name")
        elif state["endpoint_config_name"] != req.state.get("endpoint_config_name"):
            resp.diagnostics.warning(f"The endpoint config of {req.address} was swapped outside mlform",
                                     f"{name} now runs {state['endpoint_config_name']}, not "
                                     f"{req.state.get('endpoint_config_name')}. The next apply puts the configured "
                                     "model and settings back.")
        resp.state = state
        return resp

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        resp = ImportResourceResponse(state=None)
        try:
            ep = self.api.describe_endpoint(req.id)
            if ep is None:
                resp.diagnostics.error(f"SageMaker endpoint {req.id} does not exist",
                                       "Check the name with `aws sagemaker list-endpoints`.")
                return resp
            resp.state = endpoint_state(self.api, ep, imported=True)
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
        return resp

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        """An endpoint this operation created but state never recorded (the apply was killed)."""
        try:
            for ep in self.api.endpoints():
                t = self.api.tags(str(ep["EndpointArn"]))
                if t.get("mlform-address") == req.address and t.get("mlform-operation") == req.operation_id:
                    full = self.api.describe_endpoint(str(ep["EndpointName"]))
                    if full is not None:
                        return FindOrphansResponse(state=endpoint_state(self.api, full, imported=True))
        except SageMakerError:
            pass
        return FindOrphansResponse(state=None)
