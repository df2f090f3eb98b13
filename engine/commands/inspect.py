"""show, output."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.plan.values import outputs_text, raw_text, value_text
from mlform.engine.values import redact


def _state(s: C.Session):  # type: ignore[no-untyped-def]
    from mlform.engine.config.decode import load_config
    cfg, _ = load_config(s.directory)
    return C.state_manager(s, cfg).load()


def redact_for_display(attrs: dict, paths: list) -> dict:  # type: ignore[type-arg]
    """Attributes as JSON values, sensitive ones shown as ``(sensitive value)``."""
    return json.loads(json.dumps(redact(attrs, paths, "(sensitive value)"), default=str))  # type: ignore[no-any-return]


def run_show(s: C.Session, planfile: Path | None, json_out: bool, markdown: bool = False) -> int:
    if markdown and planfile is None:
        from mlform.engine.diagnostics import Diagnostics, error
        s.fail(Diagnostics([error("--markdown needs a saved plan",
                                  "Run `mlform plan --out plan.bin`, then `mlform show --markdown plan.bin`.")]))
    if planfile is not None:
        from mlform.engine.config.decode import load_config
        from mlform.engine.plan.json_view import plan_json
        from mlform.engine.plan.planfile import read_plan
        from mlform.engine.plan.render import render_plan
        try:
            plan, _ = read_plan(s.resolve(planfile))
        except DiagnosticsError as e:
            s.fail(e)
        if markdown:
            from mlform.engine.plan.review import render_markdown, review_data
            data = review_data(plan, render_plan(plan, False))
            sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n" if json_out else render_markdown(data))
        elif json_out:
            cfg, _ = load_config(s.directory)
            sys.stdout.write(json.dumps(plan_json(plan, cfg), indent=2,
                                        sort_keys=True) + "\n")
        else:
            sys.stdout.write(render_plan(plan, s.color))
        return 0
    st = _state(s)
    if json_out:
        doc = {"format_version": "1.0", "serial": st.serial, "lineage": st.lineage,
               "values": {"outputs": {k: {"value": None if v.get("sensitive") else v.get("value"),
                                          "sensitive": bool(v.get("sensitive"))} for k, v in st.outputs.items()},
                          "root_module": {"resources": [
                              {"address": r.address, "mode": "managed", "type": r.kind, "name": r.name,
                               "provider_name": r.provider, "values": redact_for_display(r.attributes, r.sensitive_paths)}
                              for r in st.resources]}}}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    if not st.resources:
        sys.stdout.write("The state is empty. Run `mlform apply` to create resources.\n")
        return 0
    from mlform.engine.rollout.rejections import rejection_notes
    for r in sorted(st.resources, key=lambda r: r.address):
        sys.stdout.write(render_resource(r, rejection_notes(st, r.address)) + "\n")
    if st.outputs:
        sys.stdout.write("Outputs:\n\n" + outputs_text(st.outputs))
    return 0


def render_resource(r, notes: list[str] | None = None) -> str:  # type: ignore[no-untyped-def]
    """One resource as ``state show`` prints it (Terraform's layout); ``notes``: ``# ...`` lines under the header."""
    from mlform.engine.plan.values import SENSITIVE, Writer

    w = Writer(slot=0)
    w.lines += [f"# {r.address}:" + (" (tainted)" if r.status == "tainted" else ""), *(notes or []),
                f'{r.kind} "{r.name}" {{']
    w.attrs(4, "", redact(r.attributes, r.sensitive_paths, SENSITIVE) or {})
    w.lines.append("}")
    return "\n".join(w.lines) + "\n"


def _warn_rejected(s: C.Session, st: Any) -> None:
    """A warning (stderr) per model or prompt whose declared version a gate rejected: outputs show what serves."""
    from mlform.engine.diagnostics import Diagnostics, warning
    from mlform.engine.rollout.rejections import active_rejection, short_version

    found = Diagnostics()
    for r in sorted(st.resources, key=lambda r: r.address):
        mark = active_rejection(st, r.address) if r.kind in ("model", "prompt") else None
        if mark is None:
            continue
        serving = mark.get("serving")
        found.append(warning(
            f"{r.address} {short_version(mark['version'])} was rejected",
            (f"Outputs describe {short_version(serving)}, the version that serves" if serving else
             "No version of it serves yet") + f"; fix {r.address} and run `mlform apply` again. "
            f"{mark['by']} rejected {short_version(mark['version'])} on {mark['at']}: {mark['reason']}"))
    s.warn(found)


def run_output(s: C.Session, name: str | None, json_out: bool, raw: bool) -> int:
    st = _state(s)
    outs = st.outputs
    _warn_rejected(s, st)
    if name is not None:
        if name not in outs:
            from mlform.engine.diagnostics import Diagnostics, did_you_mean, error
            s.fail(Diagnostics([error(f'Output "{name}" not found',
                                      f'The state has no output named "{name}".' + did_you_mean(name, outs)
                                      + " If you added it to the configuration recently, run `mlform apply`: "
                                      "state records new outputs only then. Outputs in state: "
                                      f"{', '.join(sorted(outs)) or 'none'}.")]))
        v = outs[name].get("value")
        from mlform.engine.state.sensitive import contains_marker
        if contains_marker(v):
            from mlform.engine.diagnostics import Diagnostics, error
            s.fail(Diagnostics([error(f'Output "{name}" is sensitive and not stored',
                                      "Without state encryption mlform stores only a digest of sensitive values. "
                                      "Set MLFORM_STATE_KEY (or MLFORM_STATE_KEY_FILE) and apply again to keep "
                                      "them, sealed, in state.")]))
        if raw:
            if isinstance(v, (dict, list)):
                from mlform.engine.diagnostics import Diagnostics, error
                s.fail(Diagnostics([error("Unsupported value for raw output",
                                          "--raw prints only strings, numbers and bools; use --json.")]))
            sys.stdout.write(raw_text(v))
        elif json_out:
            sys.stdout.write(json.dumps(v) + "\n")
        else:
            sys.stdout.write(value_text(v) + "\n")
        return 0
    if json_out:
        from mlform.engine.state.sensitive import contains_marker
        # As terraform output -json: sensitive outputs carry "sensitive": true and their value
        # when state has it (encrypted); unencrypted state keeps only a digest, so no value.
        doc: dict[str, Any] = {}
        for k, v in outs.items():
            if contains_marker(v.get("value")):
                doc[k] = {"sensitive": True}
                sys.stderr.write(f'Note: output "{k}" is sensitive and unencrypted state keeps only its digest, so '
                                 "it has no value here. Set MLFORM_STATE_KEY (or MLFORM_STATE_KEY_FILE) and apply "
                                 "again to keep it, sealed.\n")
            else:
                doc[k] = {"value": v.get("value"), "sensitive": bool(v.get("sensitive"))}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        return 0
    if not outs:  # as Terraform: a warning on stderr, nothing on stdout, exit 0
        from mlform.engine.diagnostics import Diagnostics, warning
        # Terraform says "run `terraform refresh`"; mlform records outputs on apply only.
        s.warn(Diagnostics([warning(
            "No outputs found",
            "The state file either has no outputs defined, or all the defined outputs are empty. Please define "
            "an output in your configuration with the `output` keyword and run `mlform apply` for it to "
            "become available. If you are using interpolation, please verify the interpolated value is not "
            "empty.")]))
        return 0
    sys.stdout.write(outputs_text(outs))
    return 0
