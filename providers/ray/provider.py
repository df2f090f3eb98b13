"""The ray provider: endpoints as Ray Serve applications on a Ray cluster (docs/ray.md).

It talks only to Serve's REST API on the cluster's dashboard (``client.py``);
what runs on the cluster is ``app.py``. Each endpoint is an ingress application
plus one application per version (``apps.py``); a model change is rolled out by
``rollout.py``'s driver. State's ``private`` holds the application name and the
version that has all the traffic once no rollout runs.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, ConfigureRequest, ConfigureResponse, FindOrphansRequest,
    FindOrphansResponse, ImportResourceRequest, ImportResourceResponse, PlanChangeRequest, PlanChangeResponse,
    ProviderBase, ReadRequest, ReadResponse,
)
from mlform.engine.providers.rollout import FinishRequest, RolloutDriver, StageRequest
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.ray import apps as A
from mlform.providers.ray.client import ClusterError, ServeClient, dashboard_url, wait_running
from mlform.providers.ray.rollout import RayRollout

__all__ = ["RayProvider"]

PROVIDER = BlockSpec(attrs={
    "address": AttrSpec("string", required=True,
                        description='the cluster: its dashboard "http://HOST:8265", "ray://HOST:10001" (its '
                                    'dashboard on the same host is used), or "auto" (127.0.0.1:8265)'),
    "dashboard_port": AttrSpec("number", description="the dashboard's port for a ray:// or auto address "
                                                     "(default 8265)"),
    "http_host": AttrSpec("string", description="where Serve's HTTP proxy listens (default 127.0.0.1)"),
    "http_port": AttrSpec("number", description="the port of Serve's HTTP proxy (default 8000)"),
    "proxy_location": AttrSpec("string", enum=("EveryNode", "HeadOnly"),
                               description="where Serve runs HTTP proxies when mlform starts Serve "
                                           "(default EveryNode)"),
    "deploy_timeout": AttrSpec("number", description="seconds a deployment may take to become healthy "
                                                     "(default 180)"),
})
ENDPOINT = BlockSpec(attrs={
    "cpus_per_replica": AttrSpec("number", description="CPUs Ray reserves for each replica (default 1)"),
    "gpus_per_replica": AttrSpec("number", description="GPUs Ray reserves for each replica (default 0)"),
    "application": AttrSpec("string", computed=True, description="the Serve application's name"),
    "placement": AttrSpec("map(any)", computed=True,
                          description="running replicas per node id, as last refreshed"),
})
SETTINGS = ("replicas", "autoscaling", "cpus_per_replica", "gpus_per_replica")


class RayProvider(ProviderBase):
    name = "ray"
    kinds = ("endpoint",)
    extra = "ray"
    extra_path = ("address",)

    def __init__(self) -> None:
        super().__init__()
        self.settings = A.Settings("", "")
        self._client: ServeClient | None = None

    def get_schema(self) -> GetSchemaResponse:
        return GetSchemaResponse(kinds=["endpoint"], provider=PROVIDER, kind_schemas={"endpoint": ENDPOINT})

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        resp = super().configure(req)
        if resp.diagnostics.has_errors:  # the [ray] extra is missing
            return resp
        address = self.config.get("address")
        if not isinstance(address, str) or contains_unknown(address):
            return resp
        host = str(self.config.get("http_host") or "127.0.0.1")
        port = int(self.config.get("http_port") or 8000)
        self.settings = A.Settings(
            dashboard_url(address, int(self.config.get("dashboard_port") or 8265)), f"http://{host}:{port}",
            {"proxy_location": self.config.get("proxy_location") or "EveryNode",
             "http_options": {"host": host, "port": port}},
            float(self.config.get("deploy_timeout") or 180))
        try:
            self.client().serve_status()
        except ClusterError as e:
            resp.diagnostics.error(f"Cannot reach the Ray cluster at {address}",
                                   f"{e}. Start the cluster (`ray start --head --dashboard-host ...`), or set "
                                   "address to its dashboard's http://HOST:PORT.", path=("address",))
        return resp

    def client(self) -> ServeClient:
        if self._client is None:
            self._client = ServeClient(self.settings.dashboard)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def rollouts(self) -> RolloutDriver:
        return RayRollout(self.client, self.settings)

    # --- plan ---------------------------------------------------------------------
    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        cfg, prior = dict(req.config), req.prior_state or {}
        model = cfg.get("model") or {}
        digest = model.get("digest") if isinstance(model, dict) else UNKNOWN
        name = A.app_name(req.address)
        vid = A.state_version(cfg)
        planned = {**cfg, "instance_type": "ray", "replicas": cfg.get("replicas") or 1,
                   "estimated_cost_per_hour": 0.0, "estimated_cost_per_million": 0.0,
                   "estimated_p99_ms": None, "active_model_digest": digest, "application": name,
                   "url": f"{self.settings.proxy_url}/{name}", "device": "gpu" if cfg.get("gpus_per_replica")
                   else "cpu", "traffic": {vid: 100} if not contains_unknown(vid) else UNKNOWN,
                   "placement": UNKNOWN}
        resp = PlanChangeResponse(planned_state=planned)
        if prior and prior.get("active_model_digest") != digest:
            resp.rollout = True
        elif prior and all(prior.get(k) == planned.get(k) for k in SETTINGS):
            planned["placement"] = prior.get("placement")  # the same replicas: known now
        return resp

    # --- apply --------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        name, active = _handle(req.prior_state or {}, req.prior_private)
        name = name or A.app_name(req.address)
        c = self.client()
        try:
            if req.action == "delete":
                apps = A.ingress_apps(c, name)
                A.remove_apps(c, self.settings, [name, *apps.values()])
                return resp
            planned = dict(req.planned_state or {})
            vid = A.state_version(planned)
            if req.action == "update" and active and active != vid:
                return self._switch_all_at_once(req, planned)
            if req.action == "update" and active:  # the same version: rescale / new CPUs in place
                from mlform.providers.ray.rollout import undo_interrupted
                undo_interrupted(c, self.settings, name, active, req.progress)
            req.progress(f"deploying {A.version_app_name(name, vid)} on Ray Serve ({self.settings.dashboard})")
            apps_st = A.deploy_version(c, self.settings, req.address, name, vid, planned, req.progress)
            A.set_ingress(c, self.settings, name, {vid: 100.0}, {vid: A.version_app_name(name, vid)},
                          {"address": req.address, "operation_id": req.operation_id},
                          model=A.model_name(req.address))
            wait_running(c, [name], self.settings.deploy_timeout, lambda m: req.progress(m))
        except ClusterError as e:
            resp.diagnostics.error(f"Could not deploy {req.address} on Ray Serve", str(e), path=("model",))
            return resp
        planned.update(traffic={vid: 100}, application=name,
                       placement=A.placement(apps_st.get(A.version_app_name(name, vid)) or {}))
        return ApplyChangeResponse(new_state=planned, private={"app": name, "active_version": vid,
                                                               "operation_id": req.operation_id})

    def _switch_all_at_once(self, req: ApplyChangeRequest, planned: dict[str, Any]) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        driver = self.rollouts()
        name, active = _handle(req.prior_state or {}, req.prior_private)
        private = {**req.prior_private, "app": name, "active_version": active}
        st = driver.stage(StageRequest(req.address, req.prior_state or {}, planned, req.config or {},
                                       req.operation_id, req.progress, private=private))
        if st.diagnostics.has_errors or st.version_id is None:
            resp.diagnostics.extend(st.diagnostics)
            return resp
        fin = driver.finish(FinishRequest(req.address, planned, keep=st.version_id, remove=st.serving_version_id,
                                          private=private))
        resp.diagnostics.extend(fin.diagnostics)
        resp.new_state, resp.private = fin.new_state, fin.private or {}
        return resp

    # --- refresh / import / orphans ------------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        name, active = _handle(req.state, req.private)
        if not name:
            return ReadResponse(state=req.state)
        try:
            apps = self.client().applications()
        except ClusterError as e:
            resp = ReadResponse(state=req.state)
            resp.diagnostics.warning(f"Could not refresh {req.address} from the Ray cluster", str(e))
            return resp
        ingress, version = apps.get(name), apps.get(A.version_app_name(name, active))
        if ingress is None or version is None:
            return ReadResponse(state=None)  # deleted outside mlform: plan creates it again
        state = dict(req.state)
        cfg = version.get("deployed_app_config") or {}
        args = cfg.get("args") or {}
        if args.get("digest") and args.get("digest") != state.get("active_model_digest"):
            state["active_model_digest"] = args.get("digest")  # redeployed outside mlform
        dep = (cfg.get("deployments") or [{}])[0]
        if "num_replicas" in dep and not state.get("autoscaling"):
            state["replicas"] = dep["num_replicas"]  # rescaled outside mlform: plan scales it back
        state["placement"] = A.placement(version)
        return ReadResponse(state=state)

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        resp = ImportResourceResponse(state=None)
        try:
            apps = self.client().applications()
        except ClusterError as e:
            resp.diagnostics.error(f"Cannot reach the Ray cluster to import {req.id}", str(e))
            return resp
        app = apps.get(req.id)
        user = (((app or {}).get("deployed_app_config") or {}).get("deployments") or [{}])[0].get("user_config")
        if not app or not isinstance(user, dict) or not user.get("weights"):
            resp.diagnostics.error(f"No mlform endpoint application named {req.id!r} on the Ray cluster",
                                   "Serve runs: " + (", ".join(sorted(apps)) or "no application") +
                                   ". Import the name of an endpoint's ingress application.")
            return resp
        weights = {str(k): float(v) for k, v in user["weights"].items()}
        active = max(weights, key=lambda v: weights[v])
        version = apps.get(str((user.get("apps") or {}).get(active))) or {}
        args = (version.get("deployed_app_config") or {}).get("args") or {}
        dep = ((version.get("deployed_app_config") or {}).get("deployments") or [{}])[0]
        resp.state = {"active_model_digest": args.get("digest"), "application": req.id,
                      "replicas": dep.get("num_replicas", 1), "traffic": {active: 100},
                      "url": f"{self.settings.proxy_url}/{req.id}", "placement": A.placement(version),
                      "cpus_per_replica": _whole((dep.get("ray_actor_options") or {}).get("num_cpus", 1))}
        return resp

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        """An application deployed for ``req.operation_id`` but never recorded is removed, so
        the retried create starts from nothing."""
        name = A.app_name(req.address)
        try:
            c = self.client()
            user = A.ingress_config(c, name)
            if user.get("operation_id") == req.operation_id and user.get("address") == req.address:
                A.remove_apps(c, self.settings, [name, *A.ingress_apps(c, name).values()])
        except ClusterError:
            pass
        return FindOrphansResponse(state=None)


def _handle(state: dict[str, Any], private: dict[str, Any]) -> tuple[str, str]:
    """The ingress application and the fully promoted version: from private state, or from the
    attributes of an imported endpoint (``application``, ``traffic``)."""
    name = str(private.get("app") or state.get("application") or "")
    active = str(private.get("active_version") or "")
    traffic = state.get("traffic")
    if not active and isinstance(traffic, dict) and traffic:
        active = str(max(traffic, key=lambda v: float(traffic[v]) if isinstance(traffic[v], (int, float)) else 0))
    return name, active


def _whole(x: Any) -> Any:
    """1.0 -> 1, as the configuration writes it (Serve reports CPUs as floats)."""
    return int(x) if isinstance(x, float) and x.is_integer() else x
