"""The local provider: endpoints served on this machine by mlform's own server.

Each endpoint is one detached server process (``providers/local/process.py``)
on 127.0.0.1, on its declared ``port`` or a free one, with its ``environment``,
request limits, adaptive ``batching`` and a gRPC service on ``grpc_port``
(``schema.py``). This module is the CRUD side (create, update in
place, read, adopt orphans, delete); planning is in ``planning.py``, and a
model change is rolled out by ``rollout.py``'s driver, which loads the new
version beside the old one in the same server and moves its weighted router.

State keeps the server's pid/port/url in ``private``; the admin token stays in
the server's 0600 config file, never in state.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, ConfigureRequest, ConfigureResponse, FindOrphansRequest,
    FindOrphansResponse, ListHardwareResponse, LogsRequest, LogsResponse, PlanChangeRequest, PlanChangeResponse,
    ProfileRequest, ProfileResponse, ProgressEvent, ProviderBase, ReadRequest, ReadResponse, ValidateConfigRequest, ValidateConfigResponse,
)
from mlform.engine.providers.rollout import FinishRequest, RolloutDriver, StageRequest
from mlform.engine.providers.schema import GetSchemaResponse
from mlform.engine.state.sensitive import mask
from mlform.providers.local import process as P
from mlform.providers.local.planning import local_hardware, plan_endpoint, profile_endpoint_model
from mlform.providers.local.restarts import Restarts, restarts_of, wait_back
from mlform.providers.local.rollout import LocalRollout, active_version, undo_interrupted
from mlform.providers.local.schema import SERVER_LIMITS, batching_config, check_endpoint, known_int, local_schema
from mlform.providers.server.config import VersionSpec
from mlform.providers.local.supervisor import LIMIT, WINDOW_S
from mlform.providers.local.versions import (
    ADOPT_FILE, admin_token, handle, read_json, server_name, served_prompt, state_version, write_json,
)

__all__ = ["LocalProvider"]


class LocalProvider(ProviderBase):
    """Serves ``endpoint`` resources from this machine (GPU when present)."""

    name = "local"
    kinds = ("endpoint",)

    def __init__(self) -> None:
        super().__init__()
        self._ports: dict[int, tuple[str, str]] = {}  # port -> (endpoint, attribute) planned on it, this run
        self._ports_lock = threading.Lock()

    def get_schema(self) -> GetSchemaResponse:
        return local_schema()

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        return ValidateConfigResponse(diagnostics=check_endpoint(req.config))

    def configure(self, req: ConfigureRequest) -> ConfigureResponse:
        resp = super().configure(req)
        g = self.config.get("gpus", "auto")
        if not (g in ("auto", "none") or (isinstance(g, list) and all(isinstance(x, int) for x in g))):
            resp.diagnostics.error("Invalid gpus setting", 'gpus is "auto", "none", or a list of GPU ids like [0, 1].',
                                   path=("gpus",))
        return resp

    @property
    def work_dir(self) -> Path:
        assert self.context is not None
        return self.context.work_dir

    # --- plan ---------------------------------------------------------------------
    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is not None:
            d = check_endpoint(req.config)
            if not d.has_errors:
                self._claim_ports(req.address, req.config, d)
            if d.has_errors:
                resp = PlanChangeResponse(planned_state=None)
                resp.diagnostics.extend(d)
                return resp
        return plan_endpoint(req, self.work_dir, self.config.get("gpus", "auto"))

    def _claim_ports(self, address: str, config: dict[str, Any], d: Any) -> None:
        """Record the ports ``address`` declares (``port``, ``grpc_port``) for this run; one
        another endpoint declared already is an error at the attribute."""
        for attr in ("port", "grpc_port"):
            port = known_int(config.get(attr))
            if not port:  # unset, unknown, or 0 (a free one)
                continue
            with self._ports_lock:
                other, other_attr = self._ports.setdefault(port, (address, attr))
            if other != address:
                who = (f"{other} and {address} both declare {attr} = {port}" if other_attr == attr else
                       f"{other} declares {other_attr} = {port} and {address} declares {attr} = {port}")
                d.error(f"Port {port} is declared by two endpoints",
                        f"{who}, but each endpoint's server needs ports of its own. Change one of them, or "
                        + _free_port_hint(attr) + ".", path=(attr,))

    def rollouts(self) -> RolloutDriver:
        return LocalRollout()

    # --- apply --------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        if req.action == "delete":
            self._stop(req.prior_private, req.address)
            return resp
        planned = dict(req.planned_state or {})
        model = planned.get("model") or {}
        if req.action == "update" and req.prior_private.get("pid"):
            st = wait_back(req.prior_private)  # a server its supervisor is restarting is waited for
            if st.running:
                digest = model.get("digest")
                vid = state_version(planned)
                if (req.prior_state or {}).get("active_model_digest") != digest or \
                        active_version(req.prior_private) != vid:
                    # No rollout runner: switch all at once, still without dropping a request.
                    return self._switch_all_at_once(req, planned)
                if len(st.versions) > 1:  # the config went back to the recorded version mid-rollout
                    url, token = handle(req.prior_private)
                    try:
                        undo_interrupted(url, token, P.info(url, token), active_version(req.prior_private),
                                         req.progress)
                    except P.AdminError as e:
                        resp.diagnostics.error(f"Could not roll back the interrupted rollout on {req.address}",
                                               str(e))
                        return resp
                planned.update(url=(req.prior_state or {}).get("url"), device=st.device, traffic={vid: 100})
                return ApplyChangeResponse(new_state=planned, private=req.prior_private)
            self._stop(req.prior_private, req.address)
        return self._create(req, planned, resp)

    def _create(self, req: ApplyChangeRequest, planned: dict[str, Any], resp: ApplyChangeResponse
                ) -> ApplyChangeResponse:
        model = planned.get("model") or {}
        vid = state_version(planned)
        name = server_name(req.address)
        self._stop_unrecorded(name, req.progress)
        req.progress(f"starting server for {model.get('address', 'model')} ({vid})")
        port = known_int(planned.get("port")) or 0
        limits: dict[str, Any] = {field: int(planned[attr]) for attr, field in SERVER_LIMITS.items()
                                  if planned.get(attr) is not None}
        grpc_port = known_int(planned.get("grpc_port"))
        limits.update(batching=batching_config(planned.get("batching")), grpc_port=grpc_port)
        try:
            h = P.start_server(name, self.work_dir, [VersionSpec(vid, model["path"], model.get("format") or "onnx",
                                                                 model.get("digest"), served_prompt(planned))],
                               gpus=self.config.get("gpus", "auto"), port=port,
                               environment={str(k): str(v) for k, v in (planned.get("environment") or {}).items()},
                               progress=lambda m: req.progress(ProgressEvent(m, phase="start")),
                               extra_config={"address": req.address, "operation_id": req.operation_id, **limits})
        except P.PortInUse as e:
            resp.diagnostics.error(f"Port {e.port} is already in use", _port_clash_detail(req.address, e, self.work_dir),
                                   path=(e.attr,))
            return resp
        except (P.ServerStartError, OSError, KeyError) as e:
            resp.diagnostics.error(f"Could not start the model server for {req.address}", str(e), path=("model",))
            return resp
        st = self._status_of(h)
        private = {**{k: v for k, v in h.to_json().items() if k != "token"}, "operation_id": req.operation_id,
                   "active_version": vid}
        planned.update(url=h.url, device=st.device or "cpu", traffic={vid: 100},
                       active_model_digest=model.get("digest"),
                       grpc_url=f"127.0.0.1:{h.grpc_port}" if h.grpc_port else None)
        # What state will record, kept beside the server until then: an apply killed
        # before the record is written leaves this for find_orphans to adopt. The environment
        # is kept as state keeps it unencrypted (a digest): its values may be secrets.
        write_json(Path(h.server_dir) / ADOPT_FILE, {"address": req.address, "operation_id": req.operation_id,
                                                      "state": mask(planned, [["environment"]]), "private": private})
        pause = os.environ.get("MLFORM_TEST_PAUSE_AFTER_SERVER_START")
        if pause:  # tests only: a window to kill the apply between start and record
            time.sleep(float(pause))
        return ApplyChangeResponse(new_state=planned, private=private)

    def _switch_all_at_once(self, req: ApplyChangeRequest, planned: dict[str, Any]) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        driver = LocalRollout()
        st = driver.stage(StageRequest(req.address, req.prior_state or {}, planned, req.config or {},
                                       req.operation_id, req.progress, private=req.prior_private))
        if st.diagnostics.has_errors or st.version_id is None:
            resp.diagnostics.extend(st.diagnostics)
            return resp
        fin = driver.finish(FinishRequest(req.address, planned, keep=st.version_id, remove=st.serving_version_id,
                                          private=req.prior_private))
        resp.diagnostics.extend(fin.diagnostics)
        resp.new_state = fin.new_state
        resp.private = fin.private or {**req.prior_private, "active_version": st.version_id}
        return resp

    def _stop_unrecorded(self, name: str, progress: Any) -> None:
        """Stop a server running under ``name`` that state does not hold (started by hand
        from its config file, say): creating means state has none, so it is stale."""
        sdir = self.work_dir / "servers" / name
        cfg, status = read_json(sdir / "config.json"), read_json(sdir / "status.json")
        pid = status.get("pid")
        if not isinstance(pid, int) or not P._is_our_server(pid, str(sdir / "config.json")):
            return
        progress(f"stopping server {name} (pid {pid}), which runs but is not in state")
        port = int(status.get("port") or 0)
        P.stop_server(P.ServerHandle(name, pid, port, f"http://127.0.0.1:{port}", str(cfg.get("token", "")),
                                     str(sdir / "server.log"), str(sdir / "config.json"), str(sdir)))

    def _stop(self, private: dict[str, Any], address: str) -> None:
        if not private.get("pid"):
            return
        try:
            h = P.ServerHandle.from_json({**private, "token": admin_token(private)})
        except KeyError:
            return
        P.stop_server(h)

    def _status(self, private: dict[str, Any]) -> P.ServerStatus:
        return P.server_status(private.get("url", ""), admin_token(private), int(private.get("pid", 0)))

    def _status_of(self, h: P.ServerHandle) -> P.ServerStatus:
        return P.server_status(h.url, h.token, h.pid)

    # --- refresh / import / orphans ------------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        if not req.private.get("pid"):
            return ReadResponse(state=req.state)
        st = wait_back(req.private)  # a server its supervisor is restarting is waited for
        restarts = restarts_of(req.private)
        if not st.running:
            resp = self._moved(req.address, int(req.private.get("port") or 0))
            if restarts is not None and restarts.state == "failed":
                resp.diagnostics.warning(f"The server of {req.address} crashed and its supervisor gave up",
                                         _gave_up_detail(restarts, req.private))
            return resp
        state = dict(req.state)
        resp = ReadResponse(state=state)
        if restarts is not None and restarts.count:
            if restarts.count != state.get("restarts"):  # new since state recorded it
                resp.diagnostics.warning(f"The server of {req.address} {restarts.note}",
                                         _restarted_detail(restarts, req.private))
            state["restarts"] = restarts.count
        declared, actual = known_int(state.get("port")), int(req.private.get("port") or 0)
        if declared is not None and actual and declared != actual:
            state["port"] = actual  # it listens elsewhere than declared: plan shows the change back
        active = active_version(req.private)
        if st.digests.get(active or "") and st.digests.get(active or "") != state.get("active_model_digest"):
            state["active_model_digest"] = st.digests[active or ""]
        if len(st.versions) > 1:
            # An interrupted rollout left a second version: show the split, and say
            # what the next apply does about it (docs/rollouts.md).
            state["traffic"] = {k: round(float(v)) for k, v in st.weights.items()}
            left = max((v for v in st.versions if v != active), key=lambda v: st.weights.get(v, 0.0))
            resp.diagnostics.warning(
                f"Rollout of {left} on {req.address} was interrupted at {st.weights.get(left, 0.0):g}%",
                f"An earlier apply stopped half-way: {left} takes {st.weights.get(left, 0.0):g}% of the traffic and "
                f"{active} the rest. The next apply rolls back to {active}, the last fully promoted version, "
                "first; if the configuration still asks for the new model it is then rolled out again from "
                "the start, gates included.")
        return resp

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        """A server started for ``req.operation_id`` but never recorded: adopt it when it
        finished starting (its adopt file holds the state to record), stop it otherwise."""
        sdir = self.work_dir / "servers" / server_name(req.address)
        cfg = read_json(sdir / "config.json")
        if cfg.get("address") != req.address or cfg.get("operation_id") != req.operation_id:
            return FindOrphansResponse(state=None)  # not started by that operation
        pid = read_json(sdir / "status.json").get("pid")
        running = isinstance(pid, int) and P._is_our_server(pid, str(sdir / "config.json"))
        adopt = read_json(sdir / ADOPT_FILE)
        if running and adopt.get("operation_id") == req.operation_id and adopt.get("private", {}).get("pid") == pid:
            st = self._status(adopt["private"])
            if st.running:
                return FindOrphansResponse(state=adopt["state"], private=adopt["private"])
        if running:  # half-started, or not answering: nothing worth adopting
            self._stop_unrecorded(server_name(req.address), lambda _m: None)
        return FindOrphansResponse(state=None)

    def _moved(self, address: str, recorded: int) -> ReadResponse:
        """The recorded server is gone: say so when a server of this endpoint, started
        outside mlform, now runs on another port (the next apply replaces it)."""
        resp = ReadResponse(state=None)  # the recorded server died: plan recreates it
        sdir = self.work_dir / "servers" / server_name(address)
        status = read_json(sdir / "status.json")
        pid, port = status.get("pid"), status.get("port")
        if isinstance(pid, int) and isinstance(port, int) and port != recorded and \
                P._is_our_server(pid, str(sdir / "config.json")):
            resp.diagnostics.warning(
                f"The server of {address} runs on port {port}, not on the recorded port {recorded}",
                f"The server mlform recorded is gone, and pid {pid}, started outside mlform from this endpoint's "
                f"config file, listens on 127.0.0.1:{port}. The next apply stops it and starts a server it "
                "records" + (" on the declared port." if recorded else "."))
        return resp

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=[local_hardware(self.config.get("gpus", "auto"))])

    def logs(self, req: LogsRequest) -> LogsResponse:
        from mlform.providers.local.logs import show_logs

        return show_logs(req)

    def profile(self, req: ProfileRequest) -> ProfileResponse:
        return profile_endpoint_model(req, self.work_dir, self.config.get("gpus", "auto"))


def _restarted_detail(r: Restarts, private: dict[str, Any]) -> str:
    return (f"It exited outside mlform and its supervisor started it again on the same port "
            f"({private.get('url')}), serving the last fully promoted version. Why it exited is in "
            f"{private.get('log_path')}. After more than {LIMIT} restarts within {WINDOW_S:g}s the supervisor "
            "gives up, and the next apply replaces the server.")


def _gave_up_detail(r: Restarts, private: dict[str, Any]) -> str:
    return (f"It {r.note}, and then {r.error or 'was not restarted again'}. Why it exited is in "
            f"{private.get('log_path')}. The next apply starts a new server.")


def _port_clash_detail(address: str, e: P.PortInUse, work_dir: Path) -> str:
    holder = e.holder.describe() if e.holder else "another process (mlform cannot see which)"
    text = (f"{address} declares {e.attr} = {e.port}, but 127.0.0.1:{e.port} is already listened on by {holder}. "
            f"Stop that process, declare another port, or {_free_port_hint(e.attr)}.")
    if e.holder and e.holder.address and e.holder.address != address and \
            Path(e.holder.work_dir) == work_dir.resolve():  # another endpoint of this project
        text += (f" If this apply moves {e.holder.address} off port {e.port}, add depends_on = "
                 f"[{e.holder.address}] so it moves first, or apply again once it has.")
    return text


def _free_port_hint(attr: str) -> str:
    return ("leave port unset to let the server pick a free one" if attr == "port" else
            f"set {attr} = 0 to let the server pick a free one")
