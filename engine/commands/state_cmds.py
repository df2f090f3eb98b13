"""state list/show/mv/rm/pull/push and import. Every write keeps a backup."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.commands.inspect import render_resource
from mlform.engine.config.decode import load_config
from mlform.engine.config.variables import VarSources
from mlform.engine.diagnostics import Diagnostics, error
from mlform.engine.state.lock import OP_INVALID
from mlform.engine.state.model import ResourceState, State


def _mgr(s: C.Session):  # type: ignore[no-untyped-def]
    cfg, _ = load_config(s.directory)
    return C.state_manager(s, cfg), cfg


def _missing(s: C.Session, address: str, st: State) -> None:
    from mlform.engine.diagnostics import did_you_mean
    s.fail(Diagnostics([error("No matching resource in state", f'"{address}" is not in the state.'
                              + did_you_mean(address, [r.address for r in st.resources])
                              + " Run `mlform state list` to see what is there.")]))


def run_state_list(s: C.Session, addresses: list[str]) -> int:
    mgr, _ = _mgr(s)
    st = mgr.load()
    if not st.resources:  # said on stderr: stdout stays empty for scripts that read it
        sys.stderr.write("No resources are recorded in the state. Run `mlform apply` to create them.\n")
        return 0
    for r in sorted(st.resources, key=lambda r: r.address):
        if not addresses or any(r.address == a or r.address.startswith(a + "[") or fnmatch.fnmatch(r.address, a)
                                for a in addresses):
            sys.stdout.write(r.address + "\n")
    return 0


def run_state_show(s: C.Session, address: str) -> int:
    mgr, _ = _mgr(s)
    st = mgr.load()
    r = st.get(address)
    if r is None:
        _missing(s, address, st)
    from mlform.engine.rollout.rejections import rejection_notes
    sys.stdout.write(render_resource(r, rejection_notes(st, address)))
    if r.kind == "prompt":
        sys.stdout.write(_prompt_versions(r, st))
    return 0


def _prompt_versions(r: ResourceState, st: State) -> str:
    """Each recorded version of a prompt, oldest first, with the eval results it got; a version
    a gate rejected follows the one that served when it was rejected, marked with why."""
    from mlform.engine.eval.results import format_number as fmt
    from mlform.engine.plan.values import inline
    from mlform.engine.rollout.rejections import rejections_of

    versions = [v for v in r.attributes.get("versions") or [] if isinstance(v, dict)]
    known = {v.get("version") for v in versions}
    rejected: dict[str, dict[str, Any]] = {}
    for x in rejections_of(st, r.address):
        if x["version"] not in known:
            rejected[x["version"]] = x  # its latest rejection
    if not versions and not rejected:
        return ""
    current = r.attributes.get("version")
    served = sorted(e.address for e in st.resources if e.kind == "endpoint" and isinstance(e.attributes.get("prompt"), dict)
                    and e.attributes["prompt"].get("address") == r.address
                    and e.attributes["prompt"].get("version") == current)
    at = {v.get("version"): i for i, v in enumerate(versions)}  # a version's last place in the list
    rows: list[tuple[dict[str, Any], dict[str, Any] | None]] = [
        (x.get("entry") or {"version": v}, x) for v, x in rejected.items() if x.get("serving") not in known]
    for i, v in enumerate(versions):
        rows.append((v, None))
        rows += [(x.get("entry") or {"version": k}, x) for k, x in rejected.items() if at.get(x.get("serving")) == i]
    mine_all = {str(v.get("version")) for v, _ in rows}  # a gate on an endpoint serving it counts too
    results = [e for h in st.history for e in h.eval_results if e.get("prompt") == r.address or (
        e.get("gate_for") and (e.get("digests") or {}).get("prompt") in mine_all)]
    lines = ["", "Versions (oldest first):"]
    last = max((i for i, (v, rej) in enumerate(rows) if rej is None and v.get("version") == current), default=-1)
    for i, (v, rej) in enumerate(rows):
        ver = v.get("version")
        mark = "  (rejected)" if rej else ("" if i != last else
                                           f"  (current, served by {', '.join(served)})" if served else "  (current)")
        params = inline(v.get("model_params") or {})
        sha = f"  template sha256:{str(v['template_sha256'])[:12]}  model_params {params}" if "template_sha256" in v else ""
        lines.append(f"  {ver}{mark}{sha}")
        if rej:
            lines.append(f"    # rejected by {rej['by']} on {rej['at']}: {rej['reason']}")
        mine = [e for e in results if (e.get("prompt_version") or (e.get("digests") or {}).get("prompt")) == ver]
        if not mine:
            lines.append("    no eval results")
        for e in mine:
            status = "passed" if e.get("passed") else str(e.get("status") or "failed").upper()
            gate = f" (gate for {e['gate_for']})" if e.get("gate_for") else ""
            lines.append(f"    {e.get('suite')}{gate}  {status}  {e.get('started_at', '')}")
            parts = [_metric_text(m) for m in e.get("metrics") or []]
            parts += [f"{a['name']} {a['passed_count']}/{a['total']} = {fmt(a['pass_rate'])} "
                      f"(>= {fmt(a['min_pass_rate'])})" for a in e.get("assertions") or []]
            if parts:
                lines.append("      " + ", ".join(parts))
            dg = e.get("digests") or {}
            lines.append("      computed for: " + ", ".join(
                f"{k} {str(dg[k])[:19]}" for k in ("target", "dataset", "judge") if dg.get(k)))
    return "\n".join(lines) + "\n"


def _metric_text(m: dict) -> str:  # type: ignore[type-arg]
    from mlform.engine.eval.results import format_number as fmt

    value = m.get("value")
    bounds = []
    if m.get("min") is not None:
        bounds.append(">= " + fmt(m["min"]))
    if m.get("max") is not None:
        bounds.append("<= " + fmt(m["max"]))
    shown = fmt(value) if isinstance(value, (int, float)) else str(value)
    return f"{m.get('name')} = {shown} ({', '.join(bounds)})"


def _write(s: C.Session, mgr, st: State, msg: str) -> int:  # type: ignore[no-untyped-def]
    with mgr.locked(OP_INVALID, 0):
        mgr.write_full(st)
    sys.stdout.write(msg + f"\nBackup of the previous state: {mgr.backup_path}\n")
    return 0


def run_state_mv(s: C.Session, src: str, dst: str) -> int:
    mgr, _ = _mgr(s)
    st = mgr.load()
    r = st.get(src)
    if r is None:
        _missing(s, src, st)
    if st.get(dst) is not None:
        s.fail(Diagnostics([error("Destination already exists", f'"{dst}" is already in the state. '
                                  "Remove it first with `mlform state rm`.")]))
    kind, rest = dst.split(".", 1) if "." in dst else ("", "")
    if kind != r.kind:
        s.fail(Diagnostics([error("Invalid state move", f"Cannot move a {r.kind} to {dst}: kinds must match.")]))
    name = rest.split("[", 1)[0]
    key = None
    if "[" in rest:
        inner = rest[rest.index("[") + 1:-1]
        key = json.loads(inner) if inner.startswith('"') else int(inner)
    st.remove(src)
    st.put(r.model_copy(update={"address": dst, "name": name, "index_key": key}))
    return _write(s, mgr, st, f"Move \"{src}\" to \"{dst}\"\nSuccessfully moved 1 object(s).")


def run_state_rm(s: C.Session, addresses: list[str]) -> int:
    mgr, _ = _mgr(s)
    st = mgr.load()
    n = 0
    for a in addresses:
        matched = [r.address for r in st.resources if r.address == a or r.address.startswith(a + "[")]
        if not matched:
            _missing(s, a, st)
        for m in matched:
            st.remove(m)
            n += 1
            sys.stdout.write(f"Removed {m}\n")
    return _write(s, mgr, st, f"Successfully removed {n} resource instance(s). The objects themselves still exist.")


def run_state_pull(s: C.Session) -> int:
    mgr, _ = _mgr(s)
    sys.stdout.write(json.dumps(mgr.load().model_dump(mode="json"), indent=2) + "\n")
    return 0


def run_state_push(s: C.Session, path: Path, force: bool) -> int:
    mgr, _ = _mgr(s)
    try:
        st = mgr.read_file(s.resolve(path))  # plaintext, or sealed with the configured key
    except Exception as exc:  # noqa: BLE001
        s.fail(Diagnostics([error("Invalid state file", f"{path} is not an mlform state document: {exc}")]))
    with mgr.locked(OP_INVALID, 0):
        mgr.write_full(st, force=force)
    sys.stdout.write(f"State pushed. Backup of the previous state: {mgr.backup_path}\n")
    return 0


def run_import(s: C.Session, address: str, id_: str, vars: list[str] | None = None,
               var_files: list[str] | None = None) -> int:
    from mlform.engine.core import Core, import_target_check

    cfg, _ = C.load(s)
    d = import_target_check(cfg, address)
    if d.has_errors:
        s.fail(d)
    mgr = C.state_manager(s, cfg)
    with mgr.locked(OP_INVALID, 0):
        src = VarSources([("file", f) for f in var_files or []] + [("var", v) for v in vars or []])
        res = Core(cfg, mgr).import_resource(address, id_, src)
    if res.resource is None:
        s.fail(res.diagnostics)
    sys.stdout.write(f"{address}: Import prepared!\nImport successful! The resource is now managed by mlform.\n")
    return 0
