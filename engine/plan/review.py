"""``mlform show --markdown PLANFILE``: a plan as a pull-request comment a reviewer reads in
30 seconds (docs/ci.md).

:func:`review_data` gathers what the comment shows (its JSON Schema is
``schemas/review.schema.json``); :func:`render_markdown` writes it. The first
line is a marker (:data:`MARKER`) so a CI job can find its own comment and
update it in place.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.plan.json_view import actions
from mlform.engine.plan.model import Plan
from mlform.engine.plan.render import HOURS_PER_MONTH, monthly_cost_delta
from mlform.engine.values import UNKNOWN

MARKER = "<!-- mlform-plan-comment -->"
KINDS = ("model", "prompt", "eval_suite", "endpoint")
_WORD = {"create": "create", "update": "update", "replace": "replace", "delete": "destroy", "read": "read"}
_ICON = {"create": "+", "update": "~", "replace": "-/+", "destroy": "-", "read": "<="}


def _known(v: Any) -> Any:
    return None if v is UNKNOWN else v


def review_data(plan: Plan, plan_text: str) -> dict[str, Any]:
    """Everything the comment shows, as plain JSON values."""
    add, change, destroy = plan.counts()
    changes = [c for c in plan.changes if c.action != "no-op"]
    by_kind: dict[str, dict[str, int]] = {}
    for c in changes:
        row = by_kind.setdefault(c.kind, {w: 0 for w in _WORD.values()})
        row[_WORD[c.action]] += 1
    blocked = any(not r.passed and not r.overridden and r.enforcement != "advisory" for r in plan.policy_results)
    endpoints = []
    for c in plan.changes:
        if c.kind != "endpoint" or c.action == "no-op" and not c.estimates:
            continue
        e = c.estimates or {}
        after = c.after or {}
        constraints = after.get("constraints") if isinstance(after.get("constraints"), dict) else {}
        endpoints.append({
            "address": c.address, "action": _WORD.get(c.action, c.action),
            "instance_type": e.get("instance_type"), "replicas": e.get("replicas"),
            "p99_ms": e.get("p99_ms"), "p99_limit_ms": _known((constraints or {}).get("p99_latency_ms")),
            "cost_per_hour": e.get("cost_per_hour") if c.action != "delete" else None,
            "cost_per_hour_before": (e.get("before") or {}).get("cost_per_hour")
            if c.action != "delete" else _known((c.before or {}).get("estimated_cost_per_hour")),
        })
    evals = []
    for ev in plan.evals:
        ch = plan.get(ev["address"])
        conf = (ch.after or ch.before or {}) if ch is not None else {}
        raw = conf.get("metric")
        metrics: list[Any] = raw if isinstance(raw, list) else []
        evals.append({"address": ev["address"], "reason": ev.get("reason", ""),
                      "target": _target(conf.get("target")),
                      "thresholds": [{"metric": m.get("name"), "min": _known(m.get("min")), "max": _known(m.get("max"))}
                                     for m in metrics if isinstance(m, dict)]})
    rollouts = [{"address": c.address, **{k: c.rollout.get(k) for k in
                                           ("strategy", "steps", "bake_seconds", "gates", "rollback_when")}}
                for c in plan.changes if c.rollout]
    return {
        "format_version": "1.0",
        "mode": plan.mode,
        "status": "refused" if blocked else ("changes" if plan.has_changes else "no-changes"),
        "counts": {"add": add, "change": change, "destroy": destroy},
        "changes_by_kind": {k: by_kind[k] for k in sorted(by_kind, key=lambda k: (KINDS + (k,)).index(k))},
        "changes": [{"address": c.address, "kind": c.kind, "action": _WORD.get(c.action, c.action),
                     "actions": actions(c), "reason": c.reason,
                     "replace_paths": [".".join(str(s) for s in p) for p in c.replace_paths]} for c in changes],
        "cost_per_month_delta": round(monthly_cost_delta(plan), 2),
        "endpoints": endpoints,
        "evals": evals,
        "rollouts": rollouts,
        "policy_results": [{"policy": r.policy, "address": r.address, "enforcement": r.enforcement,
                            "result": "pass" if r.passed else ("overridden" if r.overridden else
                                                               "warn" if r.enforcement == "advisory" else "fail"),
                            "message": "" if r.passed else r.message, "override_reason": r.override_reason}
                           for r in plan.policy_results],
        "drift": [{"address": d["address"], "action": d["action"]} for d in plan.drift],
        "plan_text": plan_text,
    }


def _target(v: Any) -> str | None:
    if isinstance(v, dict):
        return str(v.get("address")) if v.get("address") else None
    return v if isinstance(v, str) else None


def _money(v: float | None, unit: str = "") -> str:
    if v is None:
        return "—"
    return f"{'-' if v < 0 else ''}${abs(v):,.2f}{unit}"


def _delta(v: float) -> str:
    return ("+" if v >= 0 else "-") + f"${abs(v):,.2f}/month"


def _cell(v: Any) -> str:
    s = "—" if v is None else str(v)
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: dict[str, Any]) -> str:
    """The comment, from :func:`review_data`'s data."""
    c = data["counts"]
    head = {"refused": "⛔ **Refused by policy**: `apply` will not run until the failing policies pass or are "
                       "overridden.",
            "changes": f"**Plan:** {c['add']} to add, {c['change']} to change, {c['destroy']} to destroy.",
            "no-changes": "✅ **No changes.** The infrastructure matches the configuration."}[data["status"]]
    out = [MARKER, f"### mlform plan{' (' + data['mode'] + ')' if data['mode'] != 'normal' else ''}", "", head]
    if data["status"] == "refused":
        out += ["", f"**Plan:** {c['add']} to add, {c['change']} to change, {c['destroy']} to destroy."]
    if data["cost_per_month_delta"] or any(e["cost_per_hour"] for e in data["endpoints"]):
        out += ["", f"**Cost:** {_delta(data['cost_per_month_delta'])}"]
    if data["drift"]:
        out += ["", f"**Drift:** {len(data['drift'])} object(s) changed outside mlform: "
                + ", ".join(f"`{d['address']}` ({d['action']})" for d in data["drift"])]
    if data["changes_by_kind"]:
        cols = [w for w in _WORD.values() if any(row[w] for row in data["changes_by_kind"].values())]
        out += ["", "| kind | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for kind, row in data["changes_by_kind"].items():
            out.append(f"| {kind} | " + " | ".join(str(row[w]) if row[w] else "" for w in cols) + " |")
    _endpoints(data, out)
    _evals(data, out)
    _rollouts(data, out)
    _policies(data, out)
    if data["changes"]:
        out += ["", "<details><summary>Changes</summary>", ""]
        for ch in data["changes"]:
            why = f" — {ch['reason']}" if ch["reason"] and ch["reason"] not in (ch["action"], "delete") else ""
            forced = f" (forced by `{'`, `'.join(ch['replace_paths'])}`)" if ch["replace_paths"] else ""
            out.append(f"- `{_ICON.get(ch['action'], '')}` `{ch['address']}` {ch['action']}{why}{forced}")
        out += ["", "</details>"]
    out += ["", "<details><summary>Full plan</summary>", "", "```text", data["plan_text"].rstrip("\n"), "```", "",
            "</details>"]
    return "\n".join(out) + "\n"


def _endpoints(data: dict[str, Any], out: list[str]) -> None:
    if not data["endpoints"]:
        return
    out += ["", "**Endpoints**", "", "| endpoint | action | hardware | p99 (est.) | $/hour | $/month change |",
            "|---|---|---|---:|---:|---:|"]
    for e in data["endpoints"]:
        hw = f"{e['instance_type']} ×{e['replicas'] or 1}" if e["instance_type"] else "—"
        p99 = f"{e['p99_ms']:.1f} ms" if e["p99_ms"] is not None else "—"
        if e["p99_limit_ms"] is not None and e["p99_ms"] is not None:
            p99 += f" (limit {e['p99_limit_ms']} ms{', over' if e['p99_ms'] > e['p99_limit_ms'] else ''})"
        before, after = e["cost_per_hour_before"], e["cost_per_hour"]
        per_hour = _money(after) if before is None or before == after else f"{_money(before)} → {_money(after)}"
        monthly = None if after is None else ((after or 0.0) - (before or 0.0)) * HOURS_PER_MONTH
        out.append(f"| `{e['address']}` | {e['action']} | {_cell(hw)} | {p99} | {per_hour} | "
                   f"{_delta(monthly) if monthly is not None else '—'} |")


def _evals(data: dict[str, Any], out: list[str]) -> None:
    if not data["evals"]:
        return
    out += ["", "**Evals** (run by the apply; a failing gate stops the rollout)", "",
            "| suite | target | thresholds | why |", "|---|---|---|---|"]
    for ev in data["evals"]:
        th = ", ".join(f"{t['metric']} ≥ {t['min']}" if t["min"] is not None else f"{t['metric']} ≤ {t['max']}"
                       for t in ev["thresholds"] if t["min"] is not None or t["max"] is not None) or "—"
        out.append(f"| `{ev['address']}` | {_cell(ev['target'] and '`' + ev['target'] + '`')} | {th} | "
                   f"{_cell(ev['reason'])} |")


def _rollouts(data: dict[str, Any], out: list[str]) -> None:
    if not data["rollouts"]:
        return
    out += ["", "**Rollout**", "", "| endpoint | strategy | traffic steps | bake | gates | rolls back when |",
            "|---|---|---|---:|---|---|"]
    for r in data["rollouts"]:
        steps = " → ".join(f"{s:g}%" for s in r["steps"] or [])
        gates = ", ".join(f"`{g}`" for g in r["gates"] or []) or "—"
        rb = ", ".join(f"{k} > {v}" for k, v in sorted((r["rollback_when"] or {}).items())) or "—"
        out.append(f"| `{r['address']}` | {r['strategy']} | {steps} | {r['bake_seconds']:g}s | {gates} | {rb} |")


def _policies(data: dict[str, Any], out: list[str]) -> None:
    res = data["policy_results"]
    if not res:
        return
    order = {"fail": 0, "overridden": 1, "warn": 2, "pass": 3}
    mark = {"fail": "❌ fail", "overridden": "⚠️ overridden", "warn": "⚠️ warn", "pass": "✅ pass"}
    n = {k: sum(1 for r in res if r["result"] == k) for k in order}
    summary = ", ".join(f"{v} {k}" for k, v in n.items() if v)
    out += ["", f"**Policies:** {summary}", "", "| result | policy | resource | enforcement | message |",
            "|---|---|---|---|---|"]
    shown = sorted((r for r in res if r["result"] != "pass"), key=lambda r: order[r["result"]])
    for r in shown:
        msg = r["message"] + (f" — override reason: {r['override_reason']}" if r["override_reason"] else "")
        out.append(f"| {mark[r['result']]} | `{r['policy']}` | {_cell(r['address'] and '`' + r['address'] + '`')} | "
                   f"{r['enforcement']} | {_cell(msg)} |")
    passed = sorted({r["policy"] for r in res if r["result"] == "pass"})
    for name in passed:
        where = [r["address"] for r in res if r["policy"] == name and r["result"] == "pass"]
        addrs = [a for a in where if a]
        out.append(f"| {mark['pass']} | `{name}` | "
                   + (_cell(", ".join(f"`{a}`" for a in addrs[:3]) + (f" and {len(addrs) - 3} more" if len(addrs) > 3
                                                                      else "")) if addrs else "—")
                   + f" | {next(r['enforcement'] for r in res if r['policy'] == name)} | |")


__all__ = ["MARKER", "render_markdown", "review_data"]
