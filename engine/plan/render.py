"""The human plan: ``+ ~ -/+ -`` blocks, folded unchanged attributes, estimates."""

from __future__ import annotations

from typing import Any, Callable

from mlform.engine.plan.model import Plan, ResourceChange
from mlform.engine.plan.values import Writer, scalar

_COLORS = {"+": "32", "~": "33", "-": "31", "-/+": "35", "<=": "36", "bold": "1", "dim": "2"}
_TITLE = {
    "create": "will be created",
    "update": "will be updated in-place",
    "delete": "will be destroyed",
    "replace": "must be replaced",
    "read": "will be read during apply",
}
HOURS_PER_MONTH = 730


class Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, style: str) -> str:
        if not self.color or style not in _COLORS:
            return text
        return f"\x1b[{_COLORS[style]}m{text}\x1b[0m"


def fmt_scalar(v: Any) -> str:
    """A value on one line, as HCL writes it (see :mod:`mlform.engine.plan.values`)."""
    return scalar(v)


def _writer(paint: Painter, ch: ResourceChange) -> Writer:
    return Writer(slot=2, paint=paint, sensitive=ch.sensitive_paths)


def _replace_note(ch: ResourceChange, paint: Painter) -> Callable[[tuple[Any, ...]], str]:
    def note(p: tuple[Any, ...]) -> str:
        forced = any(list(rp[: len(p)]) == list(p) for rp in ch.replace_paths)
        return paint("  # forces replacement", "-/+") if forced else ""
    return note


def _head(ch: ResourceChange) -> str:
    key = "" if ch.index_key is None else (f"[{ch.index_key}]" if isinstance(ch.index_key, int)
                                           else f'["{ch.index_key}"]')
    return f'{ch.kind} "{ch.name}"{key}'


def render_change(ch: ResourceChange, paint: Painter) -> list[str]:
    r = _writer(paint, ch)
    title = _TITLE.get(ch.action, ch.action)
    if ch.action == "replace":
        if ch.reason == "tainted":
            title = "is tainted, so must be replaced"
        elif ch.reason == "requested with --replace":
            title = "will be replaced, as requested"
    r.lines.append(paint(f"  # {ch.address} {title}", "bold"))
    if ch.action == "delete" and ch.reason == "no longer in configuration":
        r.lines.append("  # (because it is no longer in the configuration)")
    elif ch.action == "delete" and ch.reason == "count index out of range":
        r.lines.append(f"  # (because index [{ch.index_key}] is out of range for count)")
    elif ch.action == "delete" and ch.reason == "for_each key not found":
        r.lines.append(f'  # (because key ["{ch.index_key}"] is not in for_each map)')
    sym = ch.symbol
    order = "-/+" if not ch.create_before_destroy else "+/-"
    r.lines.append("  " + paint(order if ch.action == "replace" else sym, sym) + " " + _head(ch) + " {")
    if ch.action == "create":
        r.attrs(6, "+", ch.after or {})
    elif ch.action == "delete":  # as Terraform: each attribute "-> null"
        r.attrs(6, "-", ch.before or {}, suffix_each=" -> null")
    else:
        r.diff_attrs(6, ch.before or {}, ch.after or {}, (), _replace_note(ch, paint))
    if ch.rollout:
        ro = ch.rollout
        steps = " -> ".join(f"{s}%" for s in ro.get("steps") or [100])
        gates = ", ".join(ro.get("gates") or []) or "none"
        rb = ro.get("rollback_when") or {}
        rbs = ", ".join(f"{k} > {v}" for k, v in sorted(rb.items()) if k != "min_requests") or "none"
        if ro.get("strategy") == "all_at_once":  # one switch, no bake: bake_seconds and rollback_when do not apply
            r.lines.append(paint(f"        # rollout: all_at_once {steps}, gates: {gates}", "<="))
        else:
            r.lines.append(paint(f"        # rollout: {ro.get('strategy')} {steps}, bake {ro.get('bake_seconds', 0)}s, "
                                 f"gates: {gates}, rollback when: {rbs}", "<="))
    if ch.estimates:
        r.lines.append(paint("        # estimate: " + format_estimate(ch), "<="))
        r.lines += [paint("        # " + x, "<=") for x in choice_lines(ch.estimates)]
    r.lines.append("    }")
    return r.lines


def format_estimate(ch: ResourceChange) -> str:
    e = ch.estimates or {}
    parts = []
    if e.get("instance_type"):
        parts.append(f"{e['instance_type']} x{e.get('replicas', 1)}")
    if e.get("device"):
        parts.append(f"on {e['device']}")
    if e.get("p99_ms") is not None:
        parts.append(f"p99 {e['p99_ms']:.1f} ms")
    if e.get("cost_per_hour") is not None:
        parts.append(f"${e['cost_per_hour']:.2f}/h")
    if e.get("cost_per_million") is not None:
        parts.append(f"${e['cost_per_million']:.2f}/1M")
    prev = e.get("before") or {}
    if prev.get("cost_per_hour") is not None and e.get("cost_per_hour") is not None:
        delta = e["cost_per_hour"] - prev["cost_per_hour"]
        parts.append(f"({'+' if delta >= 0 else '-'}${abs(delta):.2f}/h)")
    return ", ".join(parts)


def choice_lines(e: dict[str, Any]) -> list[str]:
    """What declared constraints chose (engine/constraints/): the basis of its estimate and the runner-up."""
    if not e.get("basis"):
        return []
    batch = f"batch {e.get('batch_size', 1)}" + (f" (delay {e['max_delay_ms']:g} ms)" if e.get("max_delay_ms") else "")
    out = [f"chosen by constraints: {batch}, {e.get('threads')} thread(s), {e['basis']}"
           + (f", prices as of {e['price_as_of']}" if e.get("price_as_of") else "")]
    ru = e.get("runner_up")
    if isinstance(ru, dict):
        rb = f", batch {ru.get('batch_size')}" if (ru.get("batch_size") or 1) > 1 else ""
        out.append(f"runner-up: {ru.get('instance_type')} x{ru.get('replicas')}{rb}, p99 {ru.get('p99_ms', 0):.1f} ms, "
                   f"${ru.get('cost_per_hour', 0):.2f}/h, ${ru.get('cost_per_million', 0):.2f}/1M")
    return out


def monthly_cost_delta(plan: Plan) -> float:
    total = 0.0
    for ch in plan.changes:
        e = ch.estimates or {}
        after = e.get("cost_per_hour") if ch.action != "delete" else 0.0
        before = (e.get("before") or {}).get("cost_per_hour")
        if ch.action == "delete":
            before = (ch.before or {}).get("estimated_cost_per_hour")
        total += float(after or 0.0) - float(before or 0.0)
    return total * HOURS_PER_MONTH


def render_plan(plan: Plan, color: bool = False) -> str:
    paint = Painter(color)
    out: list[str] = []
    if plan.drift:
        out.append(paint("Note: Objects have changed outside of mlform", "bold"))
        out.append("")
        for dr in plan.drift:
            what = "has been deleted" if dr["action"] == "delete" else "has changed"
            out.append(f"  # {dr['address']} {what}")
        out.append("")
    if plan.mode == "refresh-only":
        if not plan.drift:
            out.append("No changes. Your infrastructure still matches the configuration.")
        else:
            out.append("This is a refresh-only plan: applying it updates the state to match, "
                       "and changes no object.")
        return "\n".join(out) + "\n"
    changes = [c for c in plan.changes if c.action != "no-op"]
    outs = [o for o in plan.output_changes if o.action != "no-op"]
    if not changes and not outs:
        out.append("No changes. Your infrastructure matches the configuration.")
        _policies(plan, out, paint)
        return "\n".join(out) + "\n"
    if changes:
        syms = sorted({c.action for c in changes}, key=["create", "update", "replace", "delete", "read"].index)
        out.append("mlform used the selected providers to generate the following execution plan. "
                   "Resource actions are indicated with the following symbols:")
        for a in syms:
            sym = {"create": "+", "update": "~", "replace": "-/+", "delete": "-", "read": "<="}[a]
            label = {"create": "create", "update": "update in-place", "replace": "destroy and then create replacement",
                     "delete": "destroy", "read": "read"}[a]
            if a == "replace":
                # The legend names the order each replacement block shows (-/+ or +/-).
                orders = {c.create_before_destroy for c in changes if c.action == "replace"}
                if False in orders:
                    out.append(f"  {paint(sym, sym)} {label}")
                if True in orders:
                    out.append(f"  {paint('+/-', sym)} create replacement and then destroy")
                continue
            out.append(f"  {paint(sym, sym)} {label}")
        out.append("")
        out.append("mlform will perform the following actions:")
        out.append("")
        for c in changes:
            out += render_change(c, paint)
            out.append("")
    if plan.evals:
        out.append("Eval suites this apply will run: " + ", ".join(e["address"] for e in plan.evals))
        out.append("")
    add, change, destroy = plan.counts()
    out.append(paint(f"Plan: {add} to add, {change} to change, {destroy} to destroy.", "bold"))
    delta = monthly_cost_delta(plan)
    if any(c.estimates for c in plan.changes):
        out.append(f"Cost: {'+' if delta >= 0 else '-'}${abs(delta):,.2f}/month")
    if outs:
        out.append("")
        out.append("Changes to Outputs:")
        w = Writer(slot=2, paint=paint)
        width = max(len(o.name) for o in outs)
        for o in outs:
            label = f"{o.name:<{width}} = "
            if o.sensitive:
                sym = {"create": "+", "update": "~", "delete": "-"}[o.action]
                w.emit(2, sym, label + "(sensitive value)" + (" -> null" if o.action == "delete" else ""))
            else:  # Terraform: "- url = "http://..." -> null"
                w.diff(2, label, o.before, o.after, (), has_b=o.action != "create", has_a=o.action != "delete")
        out += w.lines
    _policies(plan, out, paint)
    return "\n".join(out) + "\n"


def policy_lines(plan: Plan, color: bool = False) -> list[str]:
    """The ``Policy checks:`` section (``mlform policy check`` prints it alone); empty without results."""
    out: list[str] = []
    _policies(plan, out, Painter(color))
    return out[1:]


def _policies(plan: Plan, out: list[str], paint: Painter) -> None:
    if not plan.policy_results:
        return
    out.append("")
    out.append("Policy checks:")
    for r in plan.policy_results:
        mark = paint("pass", "+") if r.passed else paint(
            "FAIL" if r.enforcement != "advisory" else "warn", "-" if r.enforcement != "advisory" else "~")
        where = f" ({r.address})" if r.address else ""
        extra = (f" [overridden: {r.override_reason}]" if r.override_reason else " [overridden]") if r.overridden else ""
        line = f"  {mark} {r.policy}{where} [{r.enforcement}]{extra}"
        if not r.passed:
            line += f": {r.message}"
        out.append(line)
