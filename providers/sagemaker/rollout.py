"""Rollouts on SageMaker, in one of two modes (the provider's ``rollout_mode``, docs/sagemaker.md).

Both start the same way: ``stage`` puts the new version beside the serving one as a second production
variant at weight 0 (a new EndpointConfig with both variants, then UpdateEndpoint), and starts a V2 gateway on
127.0.0.1 (gateway.py) that reaches that variant alone with ``InvokeEndpoint(TargetVariant=...)``: the gates
run against it before it takes any user traffic.

- ``driven`` (default): each step is ``UpdateEndpointWeightsAndCapacities``; bakes judge ``rollback_when`` on
  CloudWatch's ``Invocations``, ``Invocation5XXErrors`` and ``ModelLatency`` of the new variant.
- ``native``: SageMaker's deployment guardrails run the steps: an UpdateEndpoint to a config with only the new
  variant, with a blue/green ``DeploymentConfig`` (CANARY, LINEAR or ALL_AT_ONCE traffic routing, the bake as
  wait interval) and ``AutoRollbackConfiguration`` on CloudWatch alarms mlform creates from ``rollback_when``
  and deletes afterwards.

``finish`` leaves only the kept variant (a new single-variant config), deleting the other's Model and the old
configs; ``abort`` does the same keeping the serving one. A rollout an earlier apply left half-way (two
variants) is rolled back by ``stage`` first.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from mlform.engine.providers.protocol import ProgressEvent, v2_model_name
from mlform.engine.providers.rollout import (
    FinishRequest, FinishResult, GateTarget, Interrupted, NativeRolloutRequest, NativeRolloutResult, ObserveRequest,
    ObserveResult, RolloutCapabilities, RolloutDriver, SetWeightsRequest, SetWeightsResult, StageRequest,
    StageResult, VerifyWeightsRequest, VerifyWeightsResult,
)
from mlform.providers.sagemaker import autoscaling
from mlform.providers.sagemaker.client import Api, Progress, SageMakerError, name_part
from mlform.providers.sagemaker.gateway import Gateway
from mlform.providers.sagemaker.state import (
    create_config, create_model, endpoint_state, live, retire, variant, version_of,
)

ROUTING = {"canary": "CANARY", "linear": "LINEAR", "blue_green": "ALL_AT_ONCE", "all_at_once": "ALL_AT_ONCE"}


class SageMakerRollout(RolloutDriver):
    def __init__(self, api: Api, mode: str = "driven") -> None:
        self.api, self.mode = api, mode
        self._gateways: dict[str, Gateway] = {}
        self._ops: dict[str, str] = {}

    @property
    def capabilities(self) -> RolloutCapabilities:
        return RolloutCapabilities(mode="native" if self.mode == "native" else "driven", can_observe=True,
                                   verify_seconds=30.0)

    def _live(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        name = str(state.get("endpoint_name"))
        ep = self.api.describe_endpoint(name)
        if ep is None:
            raise SageMakerError(f"Endpoint {name} no longer exists", "It was deleted outside mlform. Run `mlform "
                                 "apply` to create it again.")
        return name, live(self.api, ep)

    def _only(self, address: str, state: dict[str, Any], keep: str, progress: Progress) -> dict[str, Any]:
        """A config with only variant ``keep`` in service, the others' configs and Models deleted; the state."""
        name, now = self._live(state)
        kept = next((v for v in now["variants"] if v["name"] == keep), None)
        if kept is None:
            raise SageMakerError(f"Variant {keep} is no longer on {name}", "It was removed outside mlform. Run "
                                 "`mlform apply` again.")
        if len(now["variants"]) > 1:
            config = create_config(self.api, address, state, [variant(str(kept["model"]), keep, state, 1.0,
                                                                       kept["count"] or None)],
                                   self._ops.get(address, "mlform"), progress)
            progress(f"updating {name}: only {keep} in service")
            self.api.call("sagemaker", "UpdateEndpoint", name, EndpointName=name, EndpointConfigName=config)
            self.api.wait(name, progress, "updating")
            retire(self.api, [now["config"]], [str(v["model"]) for v in now["variants"]
                                               if v["name"] != keep and v["model"]], progress)
        ep = self.api.describe_endpoint(name)
        assert ep is not None
        return endpoint_state(self.api, ep)

    # --- stage ---------------------------------------------------------------------------
    def stage(self, req: StageRequest) -> StageResult:
        prior, planned = req.prior_state, req.planned_state
        vid = version_of((planned.get("model") or {}).get("digest"))
        resp = StageResult(version_id=None)
        self._ops[req.address] = req.operation_id
        try:
            name, now = self._live(prior)
            serving = str(prior.get("variant_name") or (now["top"] or {}).get("name"))
            resp.serving_version_id = serving
            if len(now["variants"]) > 1:
                left = max((v for v in now["variants"] if v["name"] != serving), key=lambda v: v["weight"])
                pct = float(now["traffic"].get(left["name"], 0))
                req.progress(ProgressEvent(f"rollout of {left['name']} was interrupted at {pct:g}%; rolling back "
                                           f"to {serving}", phase="rollback", percent=0.0))
                self._only(req.address, prior, serving, req.progress)
                resp.interrupted = Interrupted(str(left["name"]), pct, serving)
                name, now = self._live(prior)
            old = next(v for v in now["variants"] if v["name"] == serving)
            req.progress(ProgressEvent(f"staging {vid} beside {serving} at 0%", phase="start"))
            model = create_model(self.api, req.address, {**planned, "endpoint_name": name}, req.operation_id,
                                 req.progress)
            config = create_config(self.api, req.address, {**planned, "endpoint_name": name},
                                   [variant(str(old["model"]), serving, prior, 1.0, old["count"] or None),
                                    variant(model, str(vid), planned, 0.0)], req.operation_id, req.progress)
            self.api.call("sagemaker", "UpdateEndpoint", name, EndpointName=name, EndpointConfigName=config)
            self.api.wait(name, req.progress, f"staging {vid}")
            retire(self.api, [now["config"]], [], req.progress)
            gw = Gateway(self.api.client("sagemaker-runtime"), name, str(vid), dict(planned.get("model") or {}))
            self._gateways[req.address] = gw
            resp.version_id = str(vid)
            resp.target = GateTarget(base_url=gw.start(), model_name=v2_model_name(req.address), version=str(vid))
        except SageMakerError as e:
            resp.version_id = None
            e.add_to(resp.diagnostics)
        return resp

    # --- driven --------------------------------------------------------------------------
    def set_weights(self, req: SetWeightsRequest) -> SetWeightsResult:
        resp = SetWeightsResult()
        try:
            name, now = self._live(req.state)
            names = {v["name"] for v in now["variants"]}
            missing = [v for v in req.weights if v not in names]
            if missing:
                raise SageMakerError(f"Variant {missing[0]} is no longer on {name}",
                                     "It was removed outside mlform during the rollout.")
            self.api.call("sagemaker", "UpdateEndpointWeightsAndCapacities", name, EndpointName=name,
                          DesiredWeightsAndCapacities=[{"VariantName": v, "DesiredWeight": float(w)}
                                                       for v, w in req.weights.items()])
            self.api.wait(name, lambda *_a, **_k: None, "moving traffic")
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
        return resp

    def verify_weights(self, req: VerifyWeightsRequest) -> VerifyWeightsResult:
        try:
            _, now = self._live(req.state)
        except SageMakerError as e:
            out = VerifyWeightsResult(verified=False)
            e.add_to(out.diagnostics)
            return out
        actual = {k: float(v) for k, v in now["traffic"].items()}
        return VerifyWeightsResult(verified=all(actual.get(v) == float(w) for v, w in req.weights.items()),
                                   actual=actual)

    def observe(self, req: ObserveRequest) -> ObserveResult:
        """The variant's CloudWatch figures over the window (p99 taken as the window's maximum latency)."""
        name = str(req.state.get("endpoint_name"))
        end = datetime.now(timezone.utc) + timedelta(seconds=1)
        start = end - timedelta(seconds=req.window_seconds + 1)
        period = 60 * max(1, math.ceil((req.window_seconds + 2) / 60))

        def stat(metric: str, stats: list[str]) -> dict[str, float]:
            out = self.api.call("cloudwatch", "GetMetricStatistics", f"{name}/{req.version_id}",
                                Namespace="AWS/SageMaker", MetricName=metric, StartTime=start, EndTime=end,
                                Period=period, Statistics=stats,
                                Dimensions=[{"Name": "EndpointName", "Value": name},
                                            {"Name": "VariantName", "Value": req.version_id}])
            points = out.get("Datapoints", [])
            got = {s: 0.0 for s in stats}
            for p in points:
                for s in stats:
                    got[s] = max(got[s], float(p.get(s, 0.0))) if s == "Maximum" else got[s] + float(p.get(s, 0))
            if "Average" in stats and points:
                got["Average"] /= len(points)
            return got
        try:
            n = int(stat("Invocations", ["Sum"])["Sum"])
            errors = int(stat("Invocation5XXErrors", ["Sum"])["Sum"])
            lat = stat("ModelLatency", ["Average", "Maximum"]) if n else {}
        except SageMakerError as e:
            out = ObserveResult(0, 0, 0.0)
            e.add_to(out.diagnostics)
            return out
        return ObserveResult(request_count=n, error_count=errors, error_rate=errors / n if n else 0.0,
                             p50_ms=lat["Average"] / 1000 if lat else None,
                             p95_ms=lat["Maximum"] / 1000 if lat else None,
                             p99_ms=lat["Maximum"] / 1000 if lat else None)

    # --- native --------------------------------------------------------------------------
    def run_native(self, req: NativeRolloutRequest) -> NativeRolloutResult:
        resp = NativeRolloutResult(outcome="completed")
        alarms: list[str] = []
        try:
            name, now = self._live(req.state)
            new = next(v for v in now["variants"] if v["name"] == req.version_id)
            alarms = self._alarms(name, req.version_id, req.rollback_when)
            routing: dict[str, Any] = {"Type": ROUTING.get(req.strategy, "ALL_AT_ONCE"),
                                       "WaitIntervalInSeconds": max(0, int(req.bake_seconds))}
            first = int(req.steps[0]) if req.steps else 100
            if routing["Type"] == "CANARY":
                routing["CanarySize"] = {"Type": "CAPACITY_PERCENT", "Value": first}
            elif routing["Type"] == "LINEAR":
                routing["LinearStepSize"] = {"Type": "CAPACITY_PERCENT", "Value": first}
            config = create_config(self.api, req.address, req.planned_state,
                                   [variant(str(new["model"]), req.version_id, req.planned_state, 1.0)],
                                   self._ops.get(req.address, "mlform"), req.progress)
            dc: dict[str, Any] = {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing,
                                                            "TerminationWaitInSeconds": 0}}
            if alarms:
                dc["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": a} for a in alarms]}
            req.progress(ProgressEvent(f"SageMaker blue/green {routing['Type']} to {req.version_id}", phase="step",
                                       percent=float(first)))
            self.api.call("sagemaker", "UpdateEndpoint", name, EndpointName=name, EndpointConfigName=config,
                          DeploymentConfig=dc)
            done = self.api.wait(name, req.progress, f"rolling out {req.version_id}")
            resp.steps.append({"native": routing["Type"], "config": config, "alarms": alarms,
                               "at": time.time()})
            if done["EndpointConfigName"] != config:
                resp.outcome = "rolled_back"
                resp.reason = f"SageMaker rolled back: {done.get('FailureReason') or 'an alarm fired'}"
                self.api.delete("EndpointConfig", config)
            else:
                retire(self.api, [now["config"]], [], req.progress)
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
            resp.outcome, resp.reason = "rolled_back", e.summary
        finally:
            if alarms:
                self.api.call("cloudwatch", "DeleteAlarms", ",".join(alarms), AlarmNames=alarms)
        return resp

    def _alarms(self, endpoint: str, vid: str, when: dict[str, Any]) -> list[str]:
        """CloudWatch alarms on the new variant from ``rollback_when``; their names."""
        dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": vid}]
        made = []
        for key, metric, extra, scale in (("error_rate", "Invocation5XXErrors", {"Statistic": "Average"}, 1.0),
                                          ("p99_latency_ms", "ModelLatency", {"ExtendedStatistic": "p99"}, 1000.0)):
            if when.get(key) is None:
                continue
            alarm = name_part(f"mlform-{endpoint}-{vid}-{key}", 255)
            self.api.call("cloudwatch", "PutMetricAlarm", alarm, AlarmName=alarm, Namespace="AWS/SageMaker",
                          MetricName=metric, Dimensions=dims, Period=60, EvaluationPeriods=1,
                          Threshold=float(when[key]) * scale, ComparisonOperator="GreaterThanThreshold",
                          TreatMissingData="notBreaching", **extra)
            made.append(alarm)
        return made

    # --- finish / abort ------------------------------------------------------------------
    def finish(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def abort(self, req: FinishRequest) -> FinishResult:
        return self._keep(req)

    def _keep(self, req: FinishRequest) -> FinishResult:
        resp = FinishResult(new_state=None)
        gw = self._gateways.pop(req.address, None)
        if gw is not None:
            gw.stop()
        try:
            now = self._only(req.address, req.state, req.keep, req.progress)
            autoscaling.sync(self.api, str(now["endpoint_name"]), req.keep, req.state, [req.remove], req.progress)
            if autoscaling.bounds(req.state.get("autoscaling")):
                now["replicas"] = req.state.get("replicas")
            digest = (req.state.get("model") or {}).get("digest") if isinstance(req.state.get("model"), dict) \
                else req.state.get("active_model_digest")
            resp.new_state = {**req.state, **now, "active_model_digest": digest,
                              "artifact_uri": self.api.artifact_uri(str(digest))}
        except SageMakerError as e:
            e.add_to(resp.diagnostics)
        return resp


__all__ = ["SageMakerRollout"]
