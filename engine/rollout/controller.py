"""Safe rollouts (docs/rollouts.md): stage, gate, shift traffic, bake, roll back.

The controller talks to the endpoint's provider only through its rollout
driver (engine/providers/rollout.py): ``stage``, ``set_weights`` and
``verify_weights``, ``observe``, ``finish`` / ``abort`` (or ``run_native``
when the platform runs the steps itself). It never reads the provider's
private data: that goes back to the provider as it came, and state records
what ``finish`` / ``abort`` return. Gates are eval suites run against the
staged version through the stage's :class:`GateTarget`. Every step is
recorded in the apply's history record (and so in state) as it happens, so a
run killed half-way leaves a record saying where it stopped.

An interrupted rollout is rolled back by the next apply (the provider undoes
the split when it stages again), then rolled out again from the start if the
configuration still asks for the new version. The stale history record is
marked ``interrupted`` with the apply that resolved it.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.core import interrupt
from mlform.engine.diagnostics import Diagnostics, error, warning
from mlform.engine.plan.model import ResourceChange
from mlform.engine.providers.protocol import ProgressEvent, ProviderBase
from mlform.engine.providers.rollout import (
    FinishRequest, GateTarget, Interrupted, NativeRolloutRequest, ObserveRequest, RolloutDriver, SetWeightsRequest,
    StageRequest, VerifyWeightsRequest,
)
from mlform.engine.rollout.strategy import Strategy, StrategyError, resolve, steps_for
from mlform.engine.state.model import HistoryRecord, now_iso

# How often a bake asks the provider for the new version's figures. A poll costs the
# local provider one stats call (~2 ms of CLI CPU, <1 ms of the server's loop): four a
# second is ~1% of a core, and a breach is seen within a quarter second of the step.
POLL_SECONDS = 0.25
# Ctrl-C during a rollout: the seconds mlform says it will roll back before it does.
COUNT_DOWN_SECONDS = 3
INTERRUPTED = "interrupted"
Report = Callable[..., None]

__all__ = ["bake_line", "run_rollout", "steps_for"]


def run_rollout(cfg: Config, ch: ResourceChange, prov: ProviderBase, mgr: Any, d: Diagnostics,
                report: Report, history: HistoryRecord) -> tuple[dict[str, Any] | None, bool]:
    """Roll ``ch`` out. Returns (state to record, succeeded); ``ch.private`` becomes what the provider returned."""
    ro = ch.rollout or {}
    try:
        strat = resolve(ro.get("strategy"), ro.get("steps"))
    except StrategyError as e:
        d.append(error(f"Invalid rollout for {ch.address}", str(e), address=ch.address))
        return None, False
    driver = prov.rollouts()
    if driver is None:  # the plan refuses this; a plan saved before the provider changed gets here
        d.append(error(f'Provider "{prov.name}" cannot roll out a new version',
                       f"{ch.address} was planned with a rollout; plan again.", address=ch.address))
        return None, False
    before = ch.before or {}
    private = dict(ch.private)
    after = ch.after or {}
    record: dict[str, Any] = {"address": ch.address, "strategy": strat.name, "started": now_iso(),
                              "from_digest": before.get("active_model_digest"),
                              "to_digest": after.get("active_model_digest"), "steps": [],
                              "outcome": "in_progress"}
    if _prompt_version(before) or _prompt_version(after):  # an endpoint serving a prompt
        record.update(from_prompt_version=_prompt_version(before), to_prompt_version=_prompt_version(after))
    history.rollouts.append(record)

    def save() -> None:
        mgr.record_history(history)

    st = driver.stage(StageRequest(ch.address, before, after, ch.config or {}, history.id, report,
                                   private=private))
    d.extend(st.diagnostics)
    _resolve_stale(mgr, ch.address, history.id, st.interrupted, record)
    if st.version_id is None:
        record["outcome"] = "failed_to_stage"
        save()
        return None, False
    new, old = st.version_id, st.serving_version_id
    record["version"] = new
    save()

    def rollback(reason: str) -> tuple[dict[str, Any] | None, bool]:
        if reason == INTERRUPTED:
            _count_down(old, report)
        report(ProgressEvent(f"rolling back: {reason}", phase="rollback", percent=0.0))
        fin = driver.abort(FinishRequest(ch.address, before, keep=old, remove=new, progress=report, private=private))
        d.extend(fin.diagnostics)
        if fin.private is not None:
            ch.private = fin.private
        record.update(outcome="rolled_back", reason=reason, finished=now_iso())
        save()
        what = "prompt" if record.get("from_digest") == record.get("to_digest") and \
            record.get("from_prompt_version") != record.get("to_prompt_version") else "model"
        todo = "Apply again to roll it out." if reason == INTERRUPTED else f"Fix the {what} and apply again."
        d.append(error(f"Rollout of {ch.address} was rolled back", f"{reason}. All traffic is back on the previous "
                       f"version ({old}); the new version was removed. {todo}", address=ch.address))
        return fin.new_state or ch.before, False

    # Gates: every suite must pass on the staged version before traffic moves.
    for gate in ro.get("gates") or []:
        if interrupt.requested():
            return rollback(INTERRUPTED)
        why = _gate(cfg, gate, st.target, new, after, record, history, ch.address, mgr, report, d, save)
        if why:
            return rollback(why)

    if driver.capabilities.mode == "native":
        breach = _native(driver, ch, before, private, strat, new, old, ro, record, save, report, d)
    else:
        breach = _shift(driver, ch, before, private, strat, new, old, ro, record, save, report, d)
    if not breach and interrupt.requested() and driver.capabilities.mode != "native":
        breach = INTERRUPTED  # after the last step's bake: not promoted yet, so not kept
    if breach:
        return rollback(breach)
    fin = driver.finish(FinishRequest(ch.address, after, keep=new, remove=old, progress=report, private=private))
    d.extend(fin.diagnostics)
    record.update(outcome="completed", finished=now_iso())
    save()
    report(ProgressEvent(f"rollout of {new} completed: 100% on {new}, {old} removed", phase="done",
                         percent=100.0))
    if fin.new_state is not None and fin.private is not None:
        ch.private = fin.private
    return fin.new_state, not fin.diagnostics.has_errors


def _gate(cfg: Config, gate: str, target: GateTarget | None, new: str, after: dict[str, Any],
          record: dict[str, Any], history: HistoryRecord, address: str, mgr: Any, report: Report,
          d: Diagnostics, save: Callable[[], None]) -> str | None:
    """Run one gate suite on the staged version; the reason to roll back, or ``None`` when it passed."""
    suite = _suite_config(gate, mgr)
    if suite is None:
        return f"gate {gate} is not in the state (apply it first)"
    if target is None:
        return f"gate {gate} cannot run: the provider gave no way to reach the staged version"
    from mlform.engine.rollout.suites import run_config, summary
    # A version serving a prompt renders it itself: the gate sends each record's variables.
    result, gd = run_config(gate, suite, cfg.directory, url=target.base_url, model_name=target.model_name,
                            version=target.version, headers=target.headers,
                            target_digest=after.get("active_model_digest"),
                            served_prompt=after.get("prompt") if isinstance(after.get("prompt"), dict) else None,
                            progress=_as_gate(gate, report))
    res_json = result.to_json() if result is not None else {"status": "error"}
    history.eval_results.append({"suite": gate, "gate_for": address, "version": new, **res_json})
    step = {"gate": gate, "passed": bool(result and result.passed), "at": now_iso()}
    if record.get("to_prompt_version"):
        step["prompt_version"] = record["to_prompt_version"]
    record["steps"].append(step)
    save()
    if result is not None and result.passed:
        return None
    d.extend(x for x in gd if x.is_error)
    why = summary(result) if result is not None else "; ".join(x.summary for x in gd.errors) or "did not run"
    return f"gate {gate} failed: {why}"


def _as_gate(gate: str, report: Report) -> Callable[[str], None]:
    """The suite's progress named as this rollout's gate: ``gate eval_suite.x: evaluating 200 records``."""
    def named(m: str) -> None:
        if isinstance(m, ProgressEvent):
            for verb in ("evaluating", "evaluated"):
                if m.startswith(f"{verb} {gate}: "):
                    m = ProgressEvent(f"gate {gate}: {verb} {m[len(verb) + len(gate) + 3:]}", phase=m.phase,
                                      done=m.done, total=m.total)
        report(m)
    return named


def _shift(driver: RolloutDriver, ch: ResourceChange, before: dict[str, Any], private: dict[str, Any],
           strat: Strategy, new: str, old: str, ro: dict[str, Any], record: dict[str, Any],
           save: Callable[[], None], report: Report, d: Diagnostics) -> str | None:
    """Move traffic step by step, baking after each; returns a breach reason, or None when done."""
    rb = ro.get("rollback_when") or {}
    bake = float(ro.get("bake_seconds") or 0) if strat.bake else 0.0
    for i, pct in enumerate(strat.steps, 1):
        if interrupt.requested():
            return INTERRUPTED
        weights = {new: pct, old: 100 - pct} if pct < 100 else {new: 100, old: 0}
        r = driver.set_weights(SetWeightsRequest(ch.address, before, weights, private=private))
        d.extend(r.diagnostics)
        if r.diagnostics.has_errors:
            return f"could not shift traffic to {pct}%"
        unverified = _verify(driver, ch.address, before, weights, private, new, d)
        if unverified:
            return unverified
        report(ProgressEvent(f"step {i}/{len(strat.steps)}: {pct}% of traffic on {new}", phase="step",
                             percent=float(pct)))
        step: dict[str, Any] = {"percent": pct, "at": now_iso()}
        if record.get("to_prompt_version"):  # which prompt the shifted traffic is served with
            step["prompt_version"] = record["to_prompt_version"]
        record["steps"].append(step)
        save()
        if not strat.bake:
            continue
        where = f"step {i}/{len(strat.steps)} {pct}%"
        if driver.capabilities.can_observe:
            breach = _bake(driver, ch, before, private, new, bake, rb, where, report, step)
        else:  # the plan refused rollback_when here: the bake only waits
            breach = _wait(bake, where, report, pct)
        save()
        if breach:
            return breach
    unjudged = [s["percent"] for s in record["steps"] if s.get("judged") is False]
    if unjudged and (rb.get("error_rate") is not None or rb.get("p99_latency_ms") is not None):
        min_req = _min_requests(rb)
        which = ", ".join(f"{p}%" for p in unjudged)
        d.append(warning(
            f"Rollout of {ch.address} was not judged on live traffic",
            f"{'The bakes at' if len(unjudged) > 1 else 'The bake at'} {which} saw fewer than "
            f"rollback_when.min_requests ({min_req}) requests on {new}, so rollback_when was not "
            "checked there: only the gates vouch for this version. Send traffic during the bakes"
            + (" or lower min_requests" if min_req > 1 else "") + " to have a rollout watched.",
            address=ch.address))
    return None


def _verify(driver: RolloutDriver, address: str, state: dict[str, Any], weights: dict[str, int],
            private: dict[str, Any], new: str, d: Diagnostics) -> str | None:
    """Wait (up to the driver's ``verify_seconds``) until the platform routes as set; the reason when it does not."""
    deadline = time.monotonic() + driver.capabilities.verify_seconds
    while True:
        v = driver.verify_weights(VerifyWeightsRequest(address, state, weights, private=private))
        if v.verified:
            return None
        if interrupt.requested():
            return INTERRUPTED
        if time.monotonic() >= deadline or v.diagnostics.has_errors:
            d.extend(v.diagnostics)
            got = v.actual.get(new)
            said = f"the provider reports {got:g}%" if got is not None else "the provider cannot confirm the split"
            return f"traffic on {new} did not reach {weights[new]}% ({said})"
        time.sleep(POLL_SECONDS)


def _wait(bake: float, where: str, report: Report, pct: int) -> str | None:
    """A bake on a provider that cannot observe: the time passes, nothing is judged."""
    t_end = time.monotonic() + bake
    while (left := t_end - time.monotonic()) > 0:
        if interrupt.requested():
            return INTERRUPTED
        report(ProgressEvent(f"{where} bake {bake - left:.0f}/{bake:.0f}s (not observed)", phase="bake",
                             percent=float(pct), remaining_s=left, total_s=bake))
        time.sleep(min(1.0, left))
    return None


def _native(driver: RolloutDriver, ch: ResourceChange, before: dict[str, Any], private: dict[str, Any],
            strat: Strategy, new: str, old: str, ro: dict[str, Any], record: dict[str, Any],
            save: Callable[[], None], report: Report, d: Diagnostics) -> str | None:
    """The platform runs the steps and bakes; returns its reason when it rolled back."""
    res = driver.run_native(NativeRolloutRequest(
        ch.address, before, ch.after or {}, new, old, strat.name, strat.steps,
        float(ro.get("bake_seconds") or 0) if strat.bake else 0.0, dict(ro.get("rollback_when") or {}),
        report, private=private))
    d.extend(res.diagnostics)
    record["steps"].extend(res.steps)
    save()
    if res.outcome == "rolled_back" or res.diagnostics.has_errors:
        return res.reason or "the platform rolled it back"
    return None


def _bake(driver: RolloutDriver, ch: ResourceChange, state: dict[str, Any], private: dict[str, Any], new: str,
          bake: float, rb: dict[str, Any], where: str, report: Report, step: dict[str, Any]) -> str | None:
    """Observe the new version for ``bake`` seconds; a breach of rollback_when returns the reason."""
    t_start = time.monotonic()
    t_end = t_start + bake
    max_err = rb.get("error_rate")
    max_p99 = rb.get("p99_latency_ms")
    min_req = _min_requests(rb)
    while True:
        left = t_end - time.monotonic()
        # Only this step's traffic counts: the window starts when the step did (at most the
        # last 10 s), never earlier, or the gate's own requests and the previous step's
        # would be judged as this step's live traffic.
        window = min(max(time.monotonic() - t_start, 0.001), 10.0)
        ob = driver.observe(ObserveRequest(ch.address, state, new, window, private=private))
        if ob.diagnostics.has_errors:  # figures nobody can read are no reason to keep the traffic there
            return "could not observe the new version: " + "; ".join(x.summary for x in ob.diagnostics.errors)
        step.update(requests=ob.request_count, error_rate=ob.error_rate, p99_ms=ob.p99_ms)
        pct = step["percent"]
        report(ProgressEvent(bake_line(where, bake - max(left, 0.0), bake, ob.request_count, ob.error_rate, ob.p99_ms),
                             phase="bake", percent=float(pct),
                             error_rate=ob.error_rate, p99_ms=ob.p99_ms, requests=ob.request_count,
                             remaining_s=max(left, 0.0), total_s=bake))
        if ob.request_count >= min_req:
            if max_err is not None and ob.error_rate > float(max_err):
                return f"error rate {ob.error_rate:.2%} exceeded rollback_when.error_rate {float(max_err):.2%} at {pct}%"
            if max_p99 is not None and ob.p99_ms is not None and ob.p99_ms > float(max_p99):
                return f"p99 {ob.p99_ms:.1f} ms exceeded rollback_when.p99_latency_ms {max_p99} at {pct}%"
        if left <= 0:
            step["judged"] = ob.request_count >= min_req
            return None
        if interrupt.requested():
            return INTERRUPTED
        time.sleep(min(POLL_SECONDS, max(left, 0.01)))


def _count_down(old: str, report: Report) -> None:
    """Say, for a few seconds, that the rollout is about to be rolled back (a second Ctrl-C stops at once)."""
    for left in range(COUNT_DOWN_SECONDS, 0, -1):
        report(ProgressEvent(f"interrupted: rolling back to {old} in {left}s (Ctrl-C again: stop now, "
                             "the next apply rolls back)", phase="rollback", percent=0.0, remaining_s=float(left),
                             total_s=float(COUNT_DOWN_SECONDS)))
        time.sleep(1.0)


def _resolve_stale(mgr: Any, address: str, current: str, undone: Interrupted | None,
                   record: dict[str, Any]) -> None:
    """Mark rollouts of ``address`` that an earlier, killed apply left ``in_progress``."""
    if undone is not None:
        record["recovered"] = {"version": undone.version, "percent": undone.percent,
                               "rolled_back_to": undone.restored}
    for h in mgr.snapshot().history:
        if h.id == current:
            continue
        stale = [r for r in h.rollouts if r.get("address") == address and r.get("outcome") == "in_progress"]
        for r in stale:
            r.update(outcome="interrupted", resolved_by=current, resolved=now_iso(),
                     resolution=f"rolled back to {undone.restored}" if undone else "nothing was left to undo")
        if stale:
            if h.outcome == "in_progress":
                h.outcome = "failed"
            mgr.record_history(h)


def _min_requests(rollback_when: dict[str, Any]) -> int:
    """Requests a bake's window must hold before rollback_when is judged (default 1)."""
    return int(rollback_when.get("min_requests") or 1)


def _prompt_version(state: dict[str, Any]) -> str | None:
    p = state.get("prompt")
    v = p.get("version") if isinstance(p, dict) else None
    return str(v) if v else None


def _suite_config(gate: str, mgr: Any) -> dict[str, Any] | None:
    rs = mgr.snapshot().get(gate)
    return dict(rs.attributes) if rs is not None else None


def bake_line(where: str, elapsed: float, total: float, requests: int, error_rate: float,
              p99_ms: float | None) -> str:
    """``step 2/3 50% bake 12/60s 40 req err 0.00% p99 3.1ms``: short enough for 80 columns after an address."""
    secs = f"{elapsed:.0f}/{total:.0f}s" if total < 1000 else f"{elapsed / 60:.0f}/{total / 60:.0f}m"
    req = str(requests) if requests < 1000 else f"{requests / 1000:.1f}k" if requests < 10_000 else \
        f"{requests // 1000}k" if requests < 1_000_000 else f"{requests / 1e6:.1f}M"
    err = f"{error_rate:.2%}" if error_rate < 0.1 else f"{error_rate:.1%}"
    p99 = "n/a" if p99_ms is None else f"{p99_ms:.1f}ms" if p99_ms < 100 else f"{p99_ms:.0f}ms" \
        if p99_ms < 10_000 else f"{p99_ms / 1000:.0f}s"
    return f"{where} bake {secs} {req} req err {err} p99 {p99}"
