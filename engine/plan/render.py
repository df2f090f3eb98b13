"""The human plan: ``+ ~ -/+ -`` blocks, folded unchanged attributes, estimates."""

from __future__ import annotations

import json
from typing import Any

from mlform.engine.plan.model import Plan, ResourceChange
from mlform.engine.values import UNKNOWN

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
    if v is UNKNOWN:
        return "(known after apply)"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v) if not v.is_integer() else str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return _inline(v)


def _is_sensitive(path: tuple[Any, ...], sens: list[list[Any]]) -> bool:
    return any(list(path[: len(s)]) == list(s) for s in sens)


class _Renderer:
    def __init__(self, paint: Painter) -> None:
        self.p = paint
        self.lines: list[str] = []

    def emit(self, indent: int, sym: str, text: str) -> None:
        pad = " " * indent
        if sym.strip():
            self.lines.append(pad + self.p(sym, sym) + " " + text)
        else:
            self.lines.append(pad + "  " + text)

    def value_lines(self, indent: int, sym: str, key: str, v: Any, path: tuple[Any, ...],
                    sens: list[list[Any]], width: int) -> None:
        label = f"{key:<{width}} = " if key else ""
        if _is_sensitive(path, sens):
            self.emit(indent, sym, f"{label}(sensitive value)")
        elif isinstance(v, dict) and v:
            self.emit(indent, sym, f"{label}{{")
            w = max(len(str(k)) for k in v)
            for k in sorted(v):
                self.value_lines(indent + 4, sym, str(k), v[k], path + (k,), sens, w)
            self.emit(indent, " ", "}")
        elif isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
            self.emit(indent, sym, f"{label}[")
            for i, x in enumerate(v):
                self.value_lines(indent + 4, sym, "", x, path + (i,), sens, 0)
            self.emit(indent, " ", "]")
        elif isinstance(v, list):
            self.emit(indent, sym, f"{label}[{', '.join(fmt_scalar(x) for x in v)}]")
        else:
            self.emit(indent, sym, f"{label}{fmt_scalar(v)}")

    def diff_obj(self, indent: int, before: dict[str, Any], after: dict[str, Any], path: tuple[Any, ...],
                 ch: ResourceChange) -> None:
        keys = sorted(set(before) | set(after))
        width = max((len(k) for k in keys), default=0)
        unchanged = 0
        for k in keys:
            b, a = before.get(k), after.get(k)
            p = path + (k,)
            note = self.p("  # forces replacement", "-/+") if any(rp[: len(p)] == list(p) for rp in ch.replace_paths) \
                else ""
            if k not in before:
                self.value_lines(indent, "+", k, a, p, ch.sensitive_paths, width)
            elif k not in after:
                self.value_lines(indent, "-", k, b, p, ch.sensitive_paths, width)
            elif a is not UNKNOWN and a == b and type(a) is type(b):
                unchanged += 1
            elif isinstance(a, dict) and isinstance(b, dict):
                self.emit(indent, "~", f"{k:<{width}} = {{" + note)
                self.diff_obj(indent + 4, b, a, p, ch)
                self.emit(indent, " ", "}")
            elif _is_sensitive(p, ch.sensitive_paths):
                self.emit(indent, "~", f"{k:<{width}} = (sensitive value)" + note)
            else:
                self.emit(indent, "~", f"{k:<{width}} = {_inline(b)} -> {_inline(a)}" + note)
        if unchanged:
            self.emit(indent, " ", self.p(f"# ({unchanged} unchanged attribute{'s' if unchanged != 1 else ''} hidden)",
                                          "dim"))


def _inline(v: Any) -> str:
    """A value on one line, JSON-like, with unknown parts as ``(known after apply)`` (not quoted)."""
    if isinstance(v, list):
        return "[" + ", ".join(_inline(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k), ensure_ascii=False)}: {_inline(v[k])}" for k in sorted(v)) + "}"
    return fmt_scalar(v)


def _head(ch: ResourceChange) -> str:
    key = "" if ch.index_key is None else (f"[{ch.index_key}]" if isinstance(ch.index_key, int)
                                           else f'["{ch.index_key}"]')
    return f'{ch.kind} "{ch.name}"{key}'


def render_change(ch: ResourceChange, paint: Painter) -> list[str]:
    r = _Renderer(paint)
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
        after = ch.after or {}
        width = max((len(k) for k in after), default=0)
        for k in sorted(after):
            r.value_lines(6, "+", k, after[k], (k,), ch.sensitive_paths, width)
    elif ch.action == "delete":
        before = ch.before or {}
        width = max((len(k) for k in before), default=0)
        for k in sorted(before):
            r.value_lines(6, "-", k, before[k], (k,), ch.sensitive_paths, width)
    else:
        r.diff_obj(6, ch.before or {}, ch.after or {}, (), ch)
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
        for o in outs:
            sym = {"create": "+", "update": "~", "delete": "-"}[o.action]
            val = "(sensitive value)" if o.sensitive else (
                fmt_scalar(o.after) if o.action != "delete" else fmt_scalar(o.before))
            if o.action == "update" and not o.sensitive:
                val = f"{_inline(o.before)} -> {_inline(o.after)}"
            if o.action == "delete":  # Terraform: "- url = "http://..." -> null"
                val += " -> null"
            out.append(f"  {paint(sym, sym)} {o.name} = {val}")
    _policies(plan, out, paint)
    return "\n".join(out) + "\n"


def _policies(plan: Plan, out: list[str], paint: Painter) -> None:
    if not plan.policy_results:
        return
    out.append("")
    out.append("Policy checks:")
    for r in plan.policy_results:
        mark = paint("pass", "+") if r.passed else paint(
            "FAIL" if r.enforcement != "advisory" else "warn", "-" if r.enforcement != "advisory" else "~")
        where = f" ({r.address})" if r.address else ""
        extra = " [overridden]" if r.overridden else ""
        line = f"  {mark} {r.policy}{where} [{r.enforcement}]{extra}"
        if not r.passed:
            line += f": {r.message}"
        out.append(line)
