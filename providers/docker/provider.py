"""The docker provider: endpoints served by mlform's V2 server in containers on a Docker
engine, behind a router container (docs/docker.md).

CRUD here; the containers themselves in ``engine.py``, images in ``images.py``,
rollouts in ``rollout.py``. Private state holds the router's container id and
published URL and the folder of the config files (the admin token stays in the
router's 0600 config file, never in state).
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, FindOrphansRequest,
    FindOrphansResponse, HardwareOption, ImportResourceRequest, ImportResourceResponse, ListHardwareResponse,
    LogsRequest, LogsResponse, PlanChangeRequest, PlanChangeResponse, ProviderBase, ReadRequest, ReadResponse, ValidateConfigRequest,
    ValidateConfigResponse, v2_model_name,
)
from mlform.engine.providers.rollout import FinishRequest, RolloutDriver, StageRequest
from mlform.engine.providers.schema import GetSchemaResponse
from mlform.engine.state.sensitive import mask
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.docker import engine as E
from mlform.providers.docker.schema import SETTINGS, check_endpoint, docker_schema, gpus_of, volumes_of
from mlform.providers.docker.versions import serve_version, state_version

__all__ = ["DockerProvider"]
ADOPT = "adopt.json"


class EngineUnreachable(Exception):
    pass


class DockerProvider(ProviderBase):
    """Serves ``endpoint`` resources in containers on a Docker engine."""

    name = "docker"
    kinds = ("endpoint",)
    extra = "docker"
    extra_path = ("host",)

    def __init__(self) -> None:
        super().__init__()
        self._client: Any = None

    def get_schema(self) -> GetSchemaResponse:
        return docker_schema()

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        return ValidateConfigResponse(diagnostics=check_endpoint(req.config))

    @property
    def host(self) -> str:
        return str(self.config.get("host") or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock")

    def client(self) -> Any:
        """The engine's client, connected once; :class:`EngineUnreachable` says why not."""
        if self._client is not None:
            return self._client
        import docker

        tls: Any = False
        cert = self.config.get("cert_path") or os.environ.get("DOCKER_CERT_PATH")
        verify = self.config.get("tls_verify", os.environ.get("DOCKER_TLS_VERIFY", "") not in ("", "0"))
        if cert or verify:
            c = Path(str(cert or Path.home() / ".docker"))
            tls = docker.tls.TLSConfig(client_cert=(str(c / "cert.pem"), str(c / "key.pem")),
                                       ca_cert=str(c / "ca.pem") if verify else None, verify=bool(verify))
        if self.host.startswith("unix://"):
            # Checked first with a socket of our own: the SDK leaks the one it failed to connect.
            import socket

            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(5)
                try:
                    s.connect(self.host.removeprefix("unix://"))
                except OSError as e:
                    raise EngineUnreachable(f"{self.host.removeprefix('unix://')}: {e.strerror or e}") from None
        cl = None
        try:
            cl = docker.DockerClient(base_url=self.host, version="1.41", timeout=120, tls=tls)
            cl.ping()
        except Exception as e:  # noqa: BLE001 - every way of not reaching the engine reads the same to a user
            if cl is not None:
                cl.close()
            raise EngineUnreachable(str(e).splitlines()[0][:300]) from None
        self._client = cl
        return cl

    def _unreachable(self, d: Any, e: EngineUnreachable) -> None:
        d.error(f"Cannot reach the Docker engine at {self.host}",
                f"{e}. Is dockerd running, and may this user use its socket? Set host on the docker "
                "provider (or DOCKER_HOST) to the engine's address.", path=("provider",))

    @property
    def work_dir(self) -> Path:
        assert self.context is not None
        return self.context.work_dir

    def spec_of(self, address: str, state: dict[str, Any], operation_id: str) -> E.EndpointSpec:
        name = v2_model_name(address)
        port = state.get("port")
        return E.EndpointSpec(
            address=address, name=name, project=E.project_id(self.work_dir), operation_id=operation_id,
            image=str(state.get("image") or ""), python=str(self.config.get("python") or "python"),
            dir=self.work_dir / "docker" / name, replicas=int(state.get("replicas") or 1),
            bind=str(state.get("bind_address") or "127.0.0.1"), port=int(port) if port else None,
            cpus=state.get("cpus"), memory=state.get("memory"), gpus=int(gpus_of(state) or 0),
            restart=str(state.get("restart_policy") or "unless-stopped"), volumes=volumes_of(state),
            environment={str(k): str(v) for k, v in (state.get("environment") or {}).items()})

    # --- plan -------------------------------------------------------------------
    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        resp = PlanChangeResponse(planned_state=None)
        if req.config is None:
            return resp
        resp.diagnostics.extend(check_endpoint(req.config))
        try:
            self.client()
        except EngineUnreachable as e:
            self._unreachable(resp.diagnostics, e)
        if resp.diagnostics.has_errors:
            return resp
        cfg, prior = dict(req.config), req.prior_state or {}
        model = cfg.get("model") or {}
        digest = model.get("digest") if isinstance(model, dict) else UNKNOWN
        gpus = gpus_of(cfg)
        planned: dict[str, Any] = {
            **cfg, "instance_type": "docker", "replicas": cfg.get("replicas") or 1, "gpus": gpus,
            "estimated_cost_per_hour": 0.0, "estimated_cost_per_million": 0.0, "estimated_p99_ms": None,
            "active_model_digest": digest, "device": UNKNOWN if contains_unknown(gpus) else
            ("cuda" if gpus else "cpu")}
        vid = UNKNOWN if contains_unknown(digest) else state_version(planned)
        planned["traffic"] = UNKNOWN if contains_unknown(vid) else {vid: 100}
        replace = bool(prior) and any(prior.get(k) != planned.get(k) for k in SETTINGS)
        if prior and prior.get("replicas") != planned["replicas"]:
            resp.requires_replace.append(("replicas",))
        if prior and not replace:
            same = prior.get("active_model_digest") == digest and state_version(prior) == vid
            planned.update(url=prior.get("url", UNKNOWN), image_id=prior.get("image_id") if same else UNKNOWN,
                           containers=prior.get("containers") if same else UNKNOWN)
            resp.rollout = not same
        else:
            port = cfg.get("port")
            planned.update(url=f"http://{cfg.get('bind_address') or '127.0.0.1'}:{int(port)}"
                           if port and not contains_unknown(port) else UNKNOWN, image_id=UNKNOWN, containers=UNKNOWN)
        resp.estimates = {"cost_per_hour": 0.0, "cost_per_million": 0.0, "instance_type": "docker",
                          "replicas": planned["replicas"], "device": planned["device"],
                          "before": {"cost_per_hour": 0.0} if prior else None}
        resp.planned_state = planned
        return resp

    def rollouts(self) -> RolloutDriver:
        from mlform.providers.docker.rollout import DockerRollout

        return DockerRollout(self)

    # --- apply ------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        try:
            client = self.client()
        except EngineUnreachable as e:
            self._unreachable(resp.diagnostics, e)
            return resp
        if req.action == "delete":
            self._remove_all(client, self.spec_of(req.address, req.prior_state or {}, req.operation_id))
            return resp
        planned = dict(req.planned_state or {})
        if req.action == "update":
            from mlform.providers.docker.drift import discover

            req.prior_private = discover(self, req.address, req.prior_private)
        if req.action == "update" and req.prior_private.get("router"):
            driver = self.rollouts()
            st = driver.stage(StageRequest(req.address, req.prior_state or {}, planned, req.config or {},
                                           req.operation_id, req.progress, private=req.prior_private))
            if st.diagnostics.has_errors or st.version_id is None:
                resp.diagnostics.extend(st.diagnostics)
                return resp
            fin = driver.finish(FinishRequest(req.address, planned, keep=st.version_id,
                                              remove=st.serving_version_id, private=req.prior_private))
            resp.diagnostics.extend(fin.diagnostics)
            resp.new_state, resp.private = fin.new_state, fin.private or req.prior_private
            return resp
        return self._create(client, req, planned, resp)

    def _create(self, client: Any, req: ApplyChangeRequest, planned: dict[str, Any], resp: ApplyChangeResponse
                ) -> ApplyChangeResponse:
        spec = self.spec_of(req.address, planned, req.operation_id)
        self._remove_all(client, spec)  # containers of this endpoint state does not hold: stale
        if spec.port and not E.port_free(spec.bind, spec.port):
            resp.diagnostics.error(f"Port {spec.port} is already in use",
                                   f"{req.address} publishes its router on {spec.bind}:{spec.port}, but another "
                                   "process listens there. Stop it, declare another port, or leave port unset "
                                   "to publish on a free one.", path=("port",))
            return resp
        try:
            E.ensure_network(client, spec)
            vid, containers, image_id = serve_version(client, spec, planned, self.config.get("base_image"),
                                                      req.progress)
            router = E.start_router(client, spec, vid, lambda m: req.progress(m))
        except E.StartError as e:
            self._remove_all(client, spec)
            resp.diagnostics.error(str(e), e.detail, path=(e.attr,))
            return resp
        except Exception as e:  # noqa: BLE001 - the engine refused a call: say which, at the endpoint
            self._remove_all(client, spec)
            resp.diagnostics.error(f"The Docker engine refused to start {req.address}",
                                   str(getattr(e, "explanation", None) or e), path=("image",))
            return resp
        url = E.published_url(router)
        planned.update(url=url, traffic={vid: 100}, image_id=image_id,
                       containers=sorted([router.name] + [c.name for c in containers]))
        private = {"router": router.id, "url": url, "dir": str(spec.dir), "active_version": vid,
                   "operation_id": req.operation_id}
        E.write_json(spec.dir / ADOPT, {"address": req.address, "operation_id": req.operation_id,
                                        "state": mask(planned, [["environment"]]), "private": private})
        pause = os.environ.get("MLFORM_TEST_PAUSE_AFTER_SERVER_START")
        if pause:  # tests only: a window to kill the apply between start and record
            import time

            time.sleep(float(pause))
        return ApplyChangeResponse(new_state=planned, private=private)

    def _remove_all(self, client: Any, spec: E.EndpointSpec) -> None:
        import docker.errors

        E.remove_containers(client, [c.id for c in E.find_labelled(client, address=spec.address,
                                                                   project=spec.project)], timeout=10)
        try:
            client.networks.get(spec.network).remove()
        except docker.errors.NotFound:
            pass
        shutil.rmtree(spec.dir, ignore_errors=True)

    # --- refresh / import / orphans --------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        from mlform.providers.docker.drift import read_endpoint

        return read_endpoint(self, req)

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        from mlform.providers.docker.drift import import_endpoint

        return import_endpoint(self, req)

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        try:
            client = self.client()
        except EngineUnreachable:
            return FindOrphansResponse(state=None)
        spec = self.spec_of(req.address, {}, req.operation_id)
        found = E.find_labelled(client, address=req.address, project=spec.project, operation_id=req.operation_id)
        try:
            adopt = json.loads((spec.dir / ADOPT).read_text())
        except (OSError, ValueError):
            adopt = {}
        if not found or adopt.get("operation_id") != req.operation_id:
            return FindOrphansResponse(state=None)
        return FindOrphansResponse(state=adopt.get("state"), private=adopt.get("private") or {})

    def logs(self, req: LogsRequest) -> LogsResponse:
        """The endpoint's containers' logs (router first, then each version replica), each line
        prefixed with its container's name; ``follow`` streams them until interrupted."""
        resp = LogsResponse()
        try:
            client = self.client()
        except EngineUnreachable as e:
            self._unreachable(resp.diagnostics, e)
            return resp
        spec = self.spec_of(req.address, req.state, "")
        ctrs = sorted(E.find_labelled(client, address=req.address, project=spec.project),
                      key=lambda c: (c.labels.get("mlform.role") != "router", c.name))
        if not ctrs:
            resp.diagnostics.error(f"{req.address} has no containers", "They were removed outside mlform; "
                                   "`mlform apply` creates them again.")
            return resp
        tail: Any = req.tail if req.tail is not None else "all"
        if not req.follow:
            for c in ctrs:
                for line in c.logs(tail=tail).decode(errors="replace").splitlines():
                    req.write(f"{c.name} | {line}")
            return resp
        import threading

        def stream(c: Any) -> None:
            for chunk in c.logs(stream=True, follow=True, tail=tail):
                for line in chunk.decode(errors="replace").splitlines():
                    req.write(f"{c.name} | {line}")

        threads = [threading.Thread(target=stream, args=(c,), daemon=True) for c in ctrs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return resp

    def list_hardware(self) -> ListHardwareResponse:
        try:
            mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError, AttributeError):
            mem = 0.0
        return ListHardwareResponse(options=[HardwareOption("docker", "none", os.cpu_count() or 1, round(mem, 1),
                                                            0.0, date.today().isoformat())])

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
