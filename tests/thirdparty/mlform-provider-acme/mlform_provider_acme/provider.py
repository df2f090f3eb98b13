"""The acme provider: ``endpoint`` resources on the Acme cloud.

A test provider (mlform's test suite installs it to prove that a provider in
its own package needs no change to mlform's engine). Its cloud is a JSON file
under the project's ``.mlform/acme-cloud/`` (``cloud.py``) and a small V2
gateway serving what that file says (``gateway.py``); nothing here talks to a
real platform. Beyond the common endpoint schema it declares:

* on the provider block, ``gateway`` (required): the gateway's URL;
* on endpoints, ``region`` (required; a change replaces the endpoint) and
  ``tier`` (``standard``, ``premium`` or ``spot``; checked by
  ``validate_config``, since a schema type cannot enumerate values).

It imports only mlform's public engine modules, as any third-party provider
must: the protocol, the rollout protocol, the schema types, diagnostics and
values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostics, did_you_mean
from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, ConfigureRequest, ConfigureResponse, FindOrphansRequest,
    FindOrphansResponse, PlanChangeRequest, PlanChangeResponse, ProviderBase, ReadRequest, ReadResponse,
    ValidateConfigRequest, ValidateConfigResponse, v2_model_name,
)
from mlform.engine.providers.rollout import RolloutDriver
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown

from mlform_provider_acme.cloud import Cloud

# Make-believe prices per replica-hour, by tier.
TIERS = {"standard": 0.12, "premium": 0.48, "spot": 0.04}
DEFAULT_TIER = "standard"


def version_of(model: Any) -> Any:
    """The version id an endpoint serving ``model`` (its state's ``model`` reference) gets; UNKNOWN until known."""
    digest = model.get("digest") if isinstance(model, dict) else UNKNOWN
    if not isinstance(digest, str) or contains_unknown(digest):
        return UNKNOWN
    return "v-" + digest.split(":")[-1][:12]


def check_tier(config: dict[str, Any], d: Diagnostics) -> None:
    """``tier`` must be one of :data:`TIERS` (an unknown value is checked again at plan)."""
    tier = config.get("tier")
    if isinstance(tier, str) and tier not in TIERS:
        d.error("Unknown Acme tier", f'tier = "{tier}" is not an Acme tier.' + did_you_mean(tier, list(TIERS))
                + " Tiers: " + ", ".join(TIERS) + ".", path=("tier",))


class AcmeProvider(ProviderBase):
    """Endpoints on the Acme cloud, rolled out through :class:`~mlform_provider_acme.rollout.AcmeRollout`."""

    name = "acme"
    kinds = ("endpoint",)

    def __init__(self) -> None:
        super().__init__()
        self.gateway = ""
        self.cloud = Cloud(Path(".mlform") / "acme-cloud")

    def get_schema(self) -> GetSchemaResponse:
        return GetSchemaResponse(
            kinds=["endpoint"],
            provider=BlockSpec(attrs={"gateway": AttrSpec(
                "string", required=True, description="URL of the Acme gateway that serves this cloud's endpoints")}),
            kind_schemas={"endpoint": BlockSpec(attrs={
                "region": AttrSpec("string", required=True, force_new=True,
                                   description="where the endpoint runs; moving it replaces the endpoint"),
                "tier": AttrSpec("string", description="standard (default), premium or spot"),
            })})

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        resp = ValidateConfigResponse()
        check_tier(req.config, resp.diagnostics)
        return resp

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        resp = super().configure(req)
        self.gateway = str(req.config.get("gateway") or "").rstrip("/")
        self.cloud = Cloud(req.context.work_dir / "acme-cloud")
        if not self.gateway:
            resp.diagnostics.error("The acme provider has no gateway",
                                   'Add provider "acme" { gateway = "http://HOST:PORT" }.')
        return resp

    def rollouts(self) -> RolloutDriver:
        from mlform_provider_acme.rollout import AcmeRollout

        return AcmeRollout(self)

    # --- plan -------------------------------------------------------------------------

    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        resp = PlanChangeResponse(planned_state=None)
        check_tier(req.config, resp.diagnostics)
        if resp.diagnostics.has_errors:
            return resp
        prior = req.prior_state or {}
        tier = req.config.get("tier") or DEFAULT_TIER
        replicas = req.config.get("replicas") or 1
        cost = UNKNOWN if contains_unknown(tier) or contains_unknown(replicas) else TIERS[tier] * int(replicas)
        vid = version_of(req.config.get("model"))
        planned = {**req.config, "tier": tier, "replicas": replicas, "instance_type": f"acme.{tier}",
                   "id": f"{req.config.get('region')}/{v2_model_name(req.address)}", "url": self.gateway,
                   "device": "cpu", "active_model_digest": (req.config.get("model") or {}).get("digest", UNKNOWN),
                   "traffic": UNKNOWN if contains_unknown(vid) else {vid: 100},
                   "estimated_cost_per_hour": cost, "estimated_p99_ms": None, "estimated_cost_per_million": None}
        if prior and version_of(prior.get("model")) != vid:
            resp.rollout = True  # a new model version moves traffic: the rollout driver applies it
        resp.estimates = {"instance_type": f"acme.{tier}", "replicas": replicas, "cost_per_hour": cost,
                          "before": {"cost_per_hour": prior.get("estimated_cost_per_hour")} if prior else None}
        resp.planned_state = planned
        return resp

    # --- apply, read ------------------------------------------------------------------

    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        name = v2_model_name(req.address)
        if req.action == "delete":
            self.cloud.change(lambda objs: objs.pop(name, None))
            return ApplyChangeResponse(new_state=None)
        state = dict(req.planned_state or {})
        model = state.get("model") or {}
        vid = version_of(model)

        def put(objs: dict[str, dict[str, Any]]) -> None:
            old = objs.get(name) or {}
            versions = old.get("versions") or {vid: {"path": model.get("path"), "digest": model.get("digest")}}
            weights = old.get("weights") or {vid: 100}
            objs[name] = {"id": state["id"], "address": req.address, "operation_id": req.operation_id,
                          "region": state.get("region"), "tier": state.get("tier"), "versions": versions,
                          "weights": weights, "attributes": state}

        if req.action == "create" and name in self.cloud.objects():
            resp = ApplyChangeResponse(new_state=None)
            resp.diagnostics.error(f"Acme endpoint {name} already exists",
                                   f"The Acme cloud already serves an endpoint named {name} "
                                   f"({self.cloud.path}). Import it or rename this endpoint.")
            return resp
        self.cloud.change(put)
        return ApplyChangeResponse(new_state=state, private={"version": vid})

    def read(self, req: ReadRequest) -> ReadResponse:
        obj = self.cloud.get(v2_model_name(req.address))
        return ReadResponse(state=obj["attributes"] if obj else None)

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        obj = self.cloud.get(v2_model_name(req.address))
        if obj and obj.get("operation_id") == req.operation_id:
            return FindOrphansResponse(state=obj["attributes"], private={"version": version_of(
                obj["attributes"].get("model"))})
        return FindOrphansResponse(state=None)
