"""A model or prompt version that a gate rejected: state keeps the version that serves.

An apply changes ``model.X`` / ``prompt.X`` first, then runs the eval suites
on the new version (as a suite targeting it, and as rollout gates on the
staged endpoint version). When a suite fails, or a rollout is rolled back,
the new version serves nowhere; recording it as the model's digest or the
prompt's ``version`` would make ``output`` and ``state show`` report a
version nobody gets. So after the walk, :func:`reject_blocked`:

* puts the target's previous attributes back in state (and in the scope
  the outputs are evaluated in), unless an endpoint does serve the new
  version, or there was no previous version (a first apply);
* marks the change in this apply's history (``changes[*].rejected``):
  the rejected ``version``, the ``serving`` one, ``by`` (the suite, or the
  rollout) and ``reason``; the same for each endpoint that was held back.

:func:`active_rejection` reads it back for ``state show``, ``show`` and
``output``; the next plan proposes the declared version again, and its
suites run again.
"""

from __future__ import annotations

from typing import Any, Callable

from mlform.engine.plan.model import ResourceChange
from mlform.engine.state.model import HistoryRecord, State

__all__ = ["active_rejection", "reject_blocked", "rejection_notes", "short_version"]

SetValue = Callable[[ResourceChange, dict[str, Any]], None]


def _version(kind: str, attrs: dict[str, Any] | None) -> str | None:
    """The version a model (its digest) or a prompt (its ``version``) records."""
    if not attrs:
        return None
    v = attrs.get("digest") if kind == "model" else attrs.get("version")
    return str(v) if isinstance(v, str) else None


def _ref(attrs: dict[str, Any] | None, key: str) -> dict[str, Any]:
    v = (attrs or {}).get(key)
    return v if isinstance(v, dict) else {}


def _serves(st: State, target: str, kind: str, version: str) -> bool:
    """Whether an endpoint in ``st`` serves ``version`` of ``target``."""
    key = "model" if kind == "model" else "prompt"
    for r in st.resources:
        ref = _ref(r.attributes, key)
        if r.kind == "endpoint" and ref.get("address") == target and _version(kind, ref) == version:
            return True
    return False


def _blocked(changes: dict[str, ResourceChange], failed: list[str], history: HistoryRecord
             ) -> list[dict[str, Any]]:
    """(target, version, by, reason, endpoint) for each suite failure and rollback of this apply."""
    from mlform.engine import eval as E

    found: list[dict[str, Any]] = []
    for e in history.eval_results:  # suites applied in this run (gates are the rollouts' own)
        suite = str(e.get("suite", ""))
        if e.get("gate_for") or e.get("passed") or suite not in failed:
            continue
        target = str(e.get("target", ""))
        kind = target.split(".", 1)[0]
        if kind not in ("model", "prompt"):
            continue
        version = e.get("prompt_version") if kind == "prompt" else (e.get("digests") or {}).get("target")
        try:
            reason = "; ".join(E.SuiteResult.from_json(e).failures()) or str(e.get("status"))
        except (KeyError, TypeError, ValueError):
            reason = str(e.get("status") or "failed")
        found.append({"target": target, "kind": kind, "version": version, "by": suite, "reason": reason})
    for ro in history.rollouts:
        if ro.get("outcome") != "rolled_back" or ro.get("address") not in changes:
            continue
        ep = str(ro["address"])
        after = changes[ep].after or {}
        reason = str(ro.get("reason") or "rolled back")
        by, _, why = reason.partition(" failed: ")
        by, reason = (by[len("gate "):], why) if by.startswith("gate ") and why else (f"the rollout of {ep}", reason)
        if ro.get("to_digest") != ro.get("from_digest") and _ref(after, "model").get("address"):
            found.append({"target": _ref(after, "model")["address"], "kind": "model", "version": ro.get("to_digest"),
                          "by": by, "reason": reason, "endpoint": ep})
        if ro.get("to_prompt_version") != ro.get("from_prompt_version") and _ref(after, "prompt").get("address"):
            found.append({"target": _ref(after, "prompt")["address"], "kind": "prompt",
                          "version": ro.get("to_prompt_version"), "by": by, "reason": reason, "endpoint": ep})
    return [f for f in found if isinstance(f["version"], str)]


def reject_blocked(changes: dict[str, ResourceChange], done: list[str], failed: list[str],
                   skipped: dict[str, str], results: dict[str, dict[str, Any]], mgr: Any,
                   history: HistoryRecord, set_value: SetValue,
                   progress: Callable[[str, str], None]) -> list[str]:
    """Keep the serving version of each model/prompt whose new version was blocked (see the module).

    Returns the addresses put back: their change did not stick."""
    blocked = _blocked(changes, failed, history)
    reverted: list[str] = []
    if not blocked:
        return reverted
    snap: State = mgr.snapshot()
    for b in blocked:
        target, kind, version = b["target"], b["kind"], b["version"]
        ch, rs = changes.get(target), snap.get(target)
        if ch is None or rs is None or target not in done or _version(kind, rs.attributes) != version:
            continue
        serving = _version(kind, ch.before) if ch.action in ("update", "replace") else None
        mark = {"version": version, "serving": serving, "by": b["by"], "reason": b["reason"]}
        if kind == "prompt":
            mark["entry"] = next((v for v in (ch.after or {}).get("versions") or []
                                  if isinstance(v, dict) and v.get("version") == version), None)
        if kind == "model" and isinstance((ch.after or {}).get("source"), str):
            mark["source"] = ch.after["source"]  # type: ignore[index]
        if serving is not None and ch.before is not None and not _serves(snap, target, kind, version):
            mgr.record_put(rs.model_copy(update={"attributes": ch.before}))
            set_value(ch, ch.before)
            progress(target, f"{short_version(version)} was rejected by {b['by']}; state keeps "
                             f"{short_version(serving)}, which serves")
            results.get(target, {})["ok"] = False  # applied, then taken back
            reverted.append(target)
        elif _serves(snap, target, kind, version):
            continue  # some endpoint took it: it is not rejected as a whole
        results.setdefault(target, {"address": target, "action": ch.action, "ok": True})["rejected"] = mark
        held = [b["endpoint"]] if b.get("endpoint") else [
            a for a, cause in skipped.items() if cause == b["by"] and
            _ref(changes[a].after, "model" if kind == "model" else "prompt").get("address") == target]
        for ep in held:
            cur = snap.get(ep)
            ep_serving = _version(kind, _ref(cur.attributes, kind)) if cur is not None else None
            results.setdefault(ep, {"address": ep, "action": changes[ep].action, "ok": False})["rejected"] = {
                **{k: v for k, v in mark.items() if k != "entry"}, "target": target, "serving": ep_serving}
    return reverted


def active_rejection(st: State, address: str) -> dict[str, Any] | None:
    """The rejection that still stands for ``address``: from the latest apply that changed it,
    unless an apply that succeeded came after (nothing was rejected then). ``at``: that apply's time."""
    for h in reversed(st.history):
        entry = next((c for c in h.changes if c.get("address") == address), None)
        if entry is not None:
            mark = entry.get("rejected")
            return {**mark, "at": h.when} if isinstance(mark, dict) else None
        if h.outcome == "succeeded" and h.operation == "apply":
            return None
    return None


def rejections_of(st: State, address: str) -> list[dict[str, Any]]:
    """Every rejection recorded for ``address``, oldest first (for a prompt's version list)."""
    return [{**c["rejected"], "at": h.when} for h in st.history for c in h.changes
            if c.get("address") == address and isinstance(c.get("rejected"), dict)]


def short_version(v: Any) -> str:
    """A digest as ``sha256:`` and 12 hex digits; a prompt version as it is."""
    s = str(v)
    return s[:19] if s.startswith("sha256:") else s


def rejection_notes(st: State, address: str) -> list[str]:
    """``# ...`` lines for ``state show`` / ``show``: which version serves, which was rejected and why."""
    mark = active_rejection(st, address)
    if mark is None:
        return []
    rejected = short_version(mark["version"]) + (f' ({mark["source"]})' if mark.get("source") else "")
    if mark.get("target"):  # an endpoint that was held back
        rejected = f'{mark["target"]} {rejected}'
    serving = mark.get("serving")
    head = f"# serving {short_version(serving)}; " if serving else "# nothing serves this yet; "
    return [head + f"{rejected} was rejected by {mark['by']} on {mark['at']}:", f"#   {mark['reason']}"]
