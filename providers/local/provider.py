"""The local provider: endpoints served on this machine by mlform's own server.

Each endpoint is one detached server process (``providers/local/process.py``)
on a free 127.0.0.1 port. A model change is rolled out by loading the new
version beside the old one in the same server, whose weighted router the
engine's rollout controller drives through :meth:`set_traffic`.

State keeps the server's pid/port/url in ``private``; the admin token stays in
the server's 0600 config file, never in state.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, ConfigureRequest, ConfigureResponse, FindOrphansRequest,
    FindOrphansResponse, FinishRolloutRequest, FinishRolloutResponse, HardwareOption, ImportResourceRequest,
    ImportResourceResponse, Interrupted, ListHardwareResponse, ObserveRequest, ObserveResponse, PlanChangeRequest,
    PlanChangeResponse, ProgressEvent, ProviderBase, ReadRequest, ReadResponse, SetTrafficRequest, SetTrafficResponse,
    StageVersionRequest, StageVersionResponse, v2_model_name,
)
from mlform.engine.values import UNKNOWN, contains_unknown
from mlform.providers.local import process as P
from mlform.providers.local.profile import profile_model
from mlform.providers.local.server.config import VersionSpec

ADOPT_FILE = "adopt.json"
_SERVING = ("model", "replicas", "batch_size", "environment", "port")


# One server per endpoint, named (and serving its model) as the protocol says.
server_name = v2_model_name


def version_id(digest: str | None, prompt_version: str | None = None) -> str:
    """The served version's id: the model digest's first 12 hex digits, plus the
    prompt version when the endpoint serves a prompt (``v-<digest>-p<prompt>``)."""
    vid = "v-" + (digest or "unknown").split(":")[-1][:12]
    return f"{vid}-p{prompt_version}" if prompt_version else vid


def served_prompt(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The prompt an endpoint's state serves, as the server takes it, or ``None``."""
    p = (state or {}).get("prompt")
    if not isinstance(p, dict) or not isinstance(p.get("template"), str):
        return None
    return {"template": p["template"], "variables": p.get("variables"),
            "model_params": p.get("model_params") or {}, "version": p.get("version")}


def state_version(state: dict[str, Any] | None) -> Any:
    """The version id ``state`` serves (model digest and prompt version); UNKNOWN while either is."""
    st = state or {}
    model = st.get("model")
    digest = model.get("digest") if isinstance(model, dict) else st.get("active_model_digest")
    prompt = st.get("prompt")
    pver = prompt.get("version") if isinstance(prompt, dict) else None
    if contains_unknown(digest) or contains_unknown(pver) or contains_unknown(prompt):
        return UNKNOWN
    return version_id(digest, pver)


def _token(private: dict[str, Any]) -> str:
    try:
        return str(json.loads(Path(private["config_path"]).read_text())["token"])
    except (OSError, KeyError, ValueError):
        return ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=lambda _: None)  # an unknown estimate is recorded as null
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _no_estimate(model: Any) -> Any:
    """Unknown until the artifact is known; ``None`` (no estimate) for a format the profiler cannot run."""
    known = isinstance(model, dict) and model.get("path") and not contains_unknown(model.get("path"))
    return None if known else UNKNOWN


class LocalProvider(ProviderBase):
    """Serves ``endpoint`` resources from this machine (GPU when present)."""

    name = "local"
    kinds = ("endpoint",)

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
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        cfg = dict(req.config)
        prior = req.prior_state or {}
        model = cfg.get("model") or {}
        resp = PlanChangeResponse(planned_state=None)
        digest = model.get("digest") if isinstance(model, dict) else UNKNOWN
        est = self._estimate(cfg, model, resp)
        if resp.diagnostics.has_errors:
            return resp
        planned: dict[str, Any] = {**cfg, "instance_type": "local", "replicas": cfg.get("replicas", 1),
                                   "estimated_cost_per_hour": 0.0, "estimated_cost_per_million": 0.0,
                                   "estimated_p99_ms": est.get("p99_ms", UNKNOWN) if est else _no_estimate(model),
                                   "active_model_digest": digest}
        vid = state_version(planned)
        traffic = {vid: 100} if not contains_unknown(vid) else UNKNOWN
        if prior:
            planned.update(url=prior.get("url", UNKNOWN), device=prior.get("device", UNKNOWN), traffic=traffic)
            # A new model digest or a new prompt version is a new served version: rolled out.
            if prior.get("active_model_digest") != digest or state_version(prior) != vid:
                resp.rollout = True
        else:
            planned.update(url=UNKNOWN, device=UNKNOWN, traffic=traffic)
        if est:
            resp.estimates = {**est, "cost_per_hour": 0.0, "cost_per_million": 0.0, "instance_type": "local",
                              "replicas": planned["replicas"],
                              "before": {"cost_per_hour": 0.0} if prior else None}
        resp.planned_state = planned
        return resp

    def _estimate(self, cfg: dict[str, Any], model: Any, resp: PlanChangeResponse) -> dict[str, Any] | None:
        if not isinstance(model, dict) or contains_unknown(model.get("path")) or not model.get("path"):
            return None
        prof = profile_model(Path(model["path"]), model.get("format") or "onnx", model.get("digest") or "",
                             self.work_dir / "cache" / "profile", self.config.get("gpus", "auto"))
        if prof is None:
            return None
        c = cfg.get("constraints") or {}
        want = c.get("p99_latency_ms")
        if want is not None and prof["p99_ms"] > float(want):
            resp.diagnostics.error(
                "Latency constraint cannot be met",
                f"constraints.p99_latency_ms = {want}, but the model's measured p99 on this machine "
                f"({prof['device']}) is {prof['p99_ms']:.2f} ms. The closest option is local on {prof['device']} "
                f"at {prof['p99_ms']:.2f} ms: relax the constraint or use a smaller model.",
                path=("constraints", "p99_latency_ms"))
        rps = c.get("min_throughput_rps")
        if rps is not None and prof["throughput_rps"] * int(cfg.get("replicas", 1) or 1) < float(rps):
            resp.diagnostics.error(
                "Throughput constraint cannot be met",
                f"constraints.min_throughput_rps = {rps}, but one local replica measures "
                f"{prof['throughput_rps']:.0f} req/s. Raise replicas or relax the constraint.",
                path=("constraints", "min_throughput_rps"))
        accel = c.get("accelerators")
        if accel and prof["accelerator"] not in accel:
            resp.diagnostics.error("Accelerator constraint cannot be met",
                                   f"This machine serves on {prof['accelerator']}, not one of {accel}.",
                                   path=("constraints", "accelerators"))
        return {"p99_ms": prof["p99_ms"], "device": prof["device"], "batch_size": 1}

    # --- apply --------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        if req.action == "delete":
            self._stop(req.prior_private, req.address)
            return resp
        planned = dict(req.planned_state or {})
        model = planned.get("model") or {}
        if req.action == "update" and req.prior_private.get("pid"):
            st = self._status(req.prior_private)
            if st.running:
                digest = model.get("digest")
                vid = state_version(planned)
                if (req.prior_state or {}).get("active_model_digest") != digest or \
                        str(req.prior_private.get("active_version") or "") != vid:
                    # No rollout runner: switch all at once, still without dropping a request.
                    return self._switch_all_at_once(req, planned)
                if len(st.versions) > 1:  # the config went back to the recorded version mid-rollout
                    url, token = self._handle(req.prior_private)
                    try:
                        self._undo_interrupted(url, token, P.info(url, token),
                                               str(req.prior_private.get("active_version") or ""), req.progress)
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
        try:
            h = P.start_server(name, self.work_dir, [VersionSpec(vid, model["path"], model.get("format") or "onnx",
                                                                 model.get("digest"), served_prompt(planned))],
                               gpus=self.config.get("gpus", "auto"),
                               progress=lambda m: req.progress(ProgressEvent(m, phase="start")),
                               extra_config={"address": req.address, "operation_id": req.operation_id})
        except (P.ServerStartError, OSError, KeyError) as e:
            resp.diagnostics.error(f"Could not start the model server for {req.address}", str(e), path=("model",))
            return resp
        st = self._status_of(h)
        private = {**{k: v for k, v in h.to_json().items() if k != "token"}, "operation_id": req.operation_id,
                   "active_version": vid}
        planned.update(url=h.url, device=st.device or "cpu", traffic={vid: 100},
                       active_model_digest=model.get("digest"))
        # What state will record, kept beside the server until then: an apply killed
        # before the record is written leaves this for find_orphans to adopt.
        _write_json(Path(h.server_dir) / ADOPT_FILE, {"address": req.address, "operation_id": req.operation_id,
                                                      "state": planned, "private": private})
        pause = os.environ.get("MLFORM_TEST_PAUSE_AFTER_SERVER_START")
        if pause:  # tests only: a window to kill the apply between start and record
            time.sleep(float(pause))
        return ApplyChangeResponse(new_state=planned, private=private)

    def _switch_all_at_once(self, req: ApplyChangeRequest, planned: dict[str, Any]) -> ApplyChangeResponse:
        resp = ApplyChangeResponse(new_state=None)
        st = self.stage_version(StageVersionRequest(req.address, req.prior_state or {}, planned, req.config or {},
                                                    req.operation_id, req.progress, private=req.prior_private))
        if st.diagnostics.has_errors or st.version_id is None:
            resp.diagnostics.extend(st.diagnostics)
            return resp
        old = req.prior_private.get("active_version")
        fin = self.finish_rollout(FinishRolloutRequest(req.address, req.prior_state or {}, planned,
                                                       keep=st.version_id, remove=old or "",
                                                       private=req.prior_private))
        resp.diagnostics.extend(fin.diagnostics)
        resp.new_state = fin.new_state
        resp.private = {**req.prior_private, "active_version": st.version_id}
        return resp

    def _stop_unrecorded(self, name: str, progress: Any) -> None:
        """Stop a server running under ``name`` that state does not hold (started by hand
        from its config file, say): creating means state has none, so it is stale."""
        sdir = self.work_dir / "servers" / name
        cfg, status = _read_json(sdir / "config.json"), _read_json(sdir / "status.json")
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
            h = P.ServerHandle.from_json({**private, "token": _token(private)})
        except KeyError:
            return
        P.stop_server(h)

    def _status(self, private: dict[str, Any]) -> P.ServerStatus:
        return P.server_status(private.get("url", ""), _token(private), int(private.get("pid", 0)))

    def _status_of(self, h: P.ServerHandle) -> P.ServerStatus:
        return P.server_status(h.url, h.token, h.pid)

    # --- refresh / import / orphans ------------------------------------------------------
    def read(self, req: ReadRequest) -> ReadResponse:
        if not req.private.get("pid"):
            return ReadResponse(state=req.state)
        st = self._status(req.private)
        if not st.running:
            return ReadResponse(state=None)  # the server died: plan recreates it
        state = dict(req.state)
        active = req.private.get("active_version")
        if st.digests.get(active or "") and st.digests.get(active or "") != state.get("active_model_digest"):
            state["active_model_digest"] = st.digests[active or ""]
        resp = ReadResponse(state=state)
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
        cfg = _read_json(sdir / "config.json")
        if cfg.get("address") != req.address or cfg.get("operation_id") != req.operation_id:
            return FindOrphansResponse(state=None)  # not started by that operation
        pid = _read_json(sdir / "status.json").get("pid")
        running = isinstance(pid, int) and P._is_our_server(pid, str(sdir / "config.json"))
        adopt = _read_json(sdir / ADOPT_FILE)
        if running and adopt.get("operation_id") == req.operation_id and adopt.get("private", {}).get("pid") == pid:
            st = self._status(adopt["private"])
            if st.running:
                return FindOrphansResponse(state=adopt["state"], private=adopt["private"])
        if running:  # half-started, or not answering: nothing worth adopting
            self._stop_unrecorded(server_name(req.address), lambda _m: None)
        return FindOrphansResponse(state=None)

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        return super().import_resource(req)

    # --- rollouts ---------------------------------------------------------------------
    def _handle(self, private: dict[str, Any]) -> tuple[str, str]:
        return private.get("url", ""), _token(private)

    def _undo_interrupted(self, url: str, token: str, inf: dict[str, Any], active: str,
                          progress: Any) -> Interrupted | None:
        """All traffic back on ``active`` and every other version unloaded; says what it undid."""
        others = {v["id"] for v in inf.get("versions", [])} - {active}
        if not others:
            return None
        weights = {k: float(v) for k, v in (inf.get("weights") or {}).items()}
        left = max(others, key=lambda v: weights.get(v, 0.0))
        undone = Interrupted(left, round(weights.get(left, 0.0), 1), active)
        progress(ProgressEvent(f"rollout of {left} was interrupted at {undone.percent:g}%; "
                               f"rolling back to {active}", phase="rollback", percent=0.0))
        P.set_traffic(url, token, {active: 100})
        for other in sorted(others):
            P.remove_version(url, token, other)
        return undone

    def stage_version(self, req: StageVersionRequest) -> StageVersionResponse:
        private = req.private
        url, token = self._handle(private)
        active = str(private.get("active_version") or "")
        model = req.planned_state.get("model") or {}
        vid = state_version(req.planned_state)
        resp = StageVersionResponse(version_id=vid)
        try:
            inf = P.info(url, token)
            if active not in {v["id"] for v in inf.get("versions", [])}:
                resp.version_id = None
                resp.diagnostics.error(
                    f"The server of {req.address} no longer serves {active or 'its recorded version'}",
                    "It was changed outside mlform. Run `mlform apply --replace " + req.address + "` to start "
                    "it again from the configuration.")
                return resp
            # A rollout left half-way by an interrupted apply is rolled back first: the
            # last fully promoted version (the one state records) is the safe place to resume from.
            resp.interrupted = self._undo_interrupted(url, token, inf, active, req.progress)
            req.progress(ProgressEvent(f"loading {vid} beside {active}", phase="start"))
            P.load_version(url, token, vid, model["path"], model.get("format") or "onnx", model.get("digest"),
                           prompt=served_prompt(req.planned_state))
        except (P.AdminError, KeyError) as e:
            resp.version_id = None
            resp.diagnostics.error(f"Could not stage the new model version on {req.address}", str(e))
            return resp
        name = inf.get("name") or server_name(req.address)
        resp.url = f"{url}/v2/models/{name}/versions/{vid}"
        return resp

    def set_traffic(self, req: SetTrafficRequest) -> SetTrafficResponse:
        url, token = self._handle(req.private)
        resp = SetTrafficResponse()
        try:
            P.set_traffic(url, token, {k: float(v) for k, v in req.weights.items()})
        except P.AdminError as e:
            resp.diagnostics.error(f"Could not shift traffic on {req.address}", str(e))
        return resp

    def observe(self, req: ObserveRequest) -> ObserveResponse:
        url, token = self._handle(req.private)
        try:
            s = P.stats(url, token, req.window_seconds, req.version_id)
        except P.AdminError as e:
            r = ObserveResponse()
            r.diagnostics.error(f"Could not observe {req.address}", str(e))
            return r
        return ObserveResponse(request_count=s.request_count, error_count=s.error_count, error_rate=s.error_rate,
                               p50_ms=s.p50_ms, p95_ms=s.p95_ms, p99_ms=s.p99_ms)

    def finish_rollout(self, req: FinishRolloutRequest) -> FinishRolloutResponse:
        url, token = self._handle(req.private)
        resp = FinishRolloutResponse(new_state=None)
        try:
            P.set_traffic(url, token, {req.keep: 100})
            if req.remove and req.remove != req.keep:
                P.remove_version(url, token, req.remove)
            inf = P.info(url, token)
        except P.AdminError as e:
            resp.diagnostics.error(f"Could not finish the rollout on {req.address}", str(e))
            return resp
        state = dict(req.planned_state)
        digests = inf.get("digests", {})
        state.update(traffic={req.keep: 100}, url=url, device=inf.get("device") or state.get("device"),
                     active_model_digest=digests.get(req.keep, state.get("active_model_digest")))
        resp.new_state = state
        return resp

    def list_hardware(self) -> ListHardwareResponse:
        return ListHardwareResponse(options=[HardwareOption("local", "none", 0, 0.0, 0.0, "2026-11-01")])
