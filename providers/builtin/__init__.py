"""The builtin provider: ``model``, ``prompt`` and ``eval_suite`` need no cloud.

* model: the artifact's identity is its content digest (sha256). For a local
  file the digest is known at plan time, so a plan shows which endpoints a
  new model will roll out to; for remote sources it is known after apply.
* prompt: its version derives from the template and parameters; every new
  version is appended to ``versions`` (the history ``state show`` prints).
* eval_suite: runs the suite on apply; see :mod:`.evals`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostics, did_you_mean
from mlform.engine.digest import file_digest  # the digest the local server checks on load
from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, PlanChangeRequest, PlanChangeResponse, ProviderBase,
    ValidateConfigRequest, ValidateConfigResponse,
)
from mlform.engine.values import UNKNOWN, contains_unknown

FORMATS = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".pth": "pytorch_state_dict",
           ".pkl": "sklearn", ".joblib": "sklearn"}
KNOWN_FORMATS = ("onnx", "torchscript", "pytorch_state_dict", "sklearn", "hf")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def prompt_version(template: str, params: Any) -> str:
    blob = json.dumps({"template": template, "model_params": params or {}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class BuiltinProvider(ProviderBase):
    """Serves the kinds that live in mlform itself."""

    name = "builtin"
    kinds = ("model", "prompt", "eval_suite")

    @property
    def project_dir(self) -> Path:
        return self.context.project_dir if self.context else Path.cwd()

    # --- validate -------------------------------------------------------------
    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        resp = ValidateConfigResponse()
        if req.kind == "prompt":
            _check_placeholders(req.config, resp.diagnostics)
        if req.kind == "model":
            src = req.config.get("source")
            if isinstance(src, str) and "\0" in src:
                resp.diagnostics.error("Invalid model source", f"{src!r} contains a NUL byte, which no path or "
                                       "URL can hold. Check the source.", path=("source",))
            fmt = req.config.get("format")
            if isinstance(fmt, str) and fmt not in KNOWN_FORMATS:
                resp.diagnostics.error("Unsupported model format", f'"{fmt}" is not a model format. Use one of: '
                                       + ", ".join(KNOWN_FORMATS) + "." + did_you_mean(fmt, KNOWN_FORMATS),
                                       path=("format",))
        if req.kind == "eval_suite":
            from mlform.providers.builtin.evals import validate_suite
            validate_suite(req.config, resp.diagnostics, self.project_dir)
        return resp

    # --- plan -------------------------------------------------------------------
    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        v = self.validate_config(ValidateConfigRequest(req.kind, req.address, req.config))
        if v.diagnostics.has_errors:
            return PlanChangeResponse(planned_state=None, diagnostics=v.diagnostics)
        if req.kind == "model":
            resp = self._plan_model(req)
        elif req.kind == "prompt":
            resp = self._plan_prompt(req)
        else:
            from mlform.providers.builtin.evals import plan_suite
            resp = plan_suite(self, req)
        # validate's warnings travel with the plan, so plan and apply show what validate shows
        resp.diagnostics = Diagnostics([*v.diagnostics, *resp.diagnostics])
        return resp

    def _plan_model(self, req: PlanChangeRequest) -> PlanChangeResponse:
        cfg = dict(req.config or {})
        resp = PlanChangeResponse(planned_state=None)
        src = cfg.get("source")
        fmt = cfg.get("format")
        if fmt is None and isinstance(src, str):
            fmt = FORMATS.get(Path(src).suffix.lower(), UNKNOWN if "://" in src else "onnx")
        planned: dict[str, Any] = {**cfg, "format": fmt}
        if src is UNKNOWN or not isinstance(src, str) or "://" in src:
            planned.update(digest=UNKNOWN, size_bytes=UNKNOWN, path=UNKNOWN)
        else:
            p = (self.project_dir / src).resolve()
            if not p.is_file():
                resp.diagnostics.error("Model artifact not found",
                                       f"{src} resolves to {p}, which does not exist. Check the path, or build "
                                       "the model first.", path=("source",))
                return resp
            planned.update(digest=file_digest(p), size_bytes=p.stat().st_size, path=str(p))
            prior = req.prior_state or {}
            # I/O signatures are read at apply; keep them while the artifact is the same.
            if prior.get("digest") == planned["digest"]:
                planned.update({k: prior[k] for k in ("inputs", "outputs") if k in prior})
            elif planned.get("format") == "onnx":
                planned.update(inputs=UNKNOWN, outputs=UNKNOWN)
        resp.planned_state = planned
        return resp

    def _plan_prompt(self, req: PlanChangeRequest) -> PlanChangeResponse:
        cfg = dict(req.config or {})
        prior = req.prior_state or {}
        planned: dict[str, Any] = dict(cfg)
        if contains_unknown(cfg.get("template")) or contains_unknown(cfg.get("model_params")):
            planned.update(version=UNKNOWN, digest=UNKNOWN, versions=UNKNOWN)
        else:
            ver = prompt_version(cfg["template"], cfg.get("model_params"))
            versions = list(prior.get("versions") or [])
            if not versions or versions[-1].get("version") != ver:
                versions.append({"version": ver, "template_sha256": hashlib.sha256(
                    str(cfg["template"]).encode()).hexdigest(), "model_params": cfg.get("model_params") or {}})
            planned.update(version=ver, digest="sha256:" + hashlib.sha256(
                json.dumps([cfg["template"], cfg.get("model_params") or {}], sort_keys=True).encode()).hexdigest(),
                versions=versions)
        return PlanChangeResponse(planned_state=planned)

    # --- apply ------------------------------------------------------------------
    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        if req.action == "delete":
            return ApplyChangeResponse(new_state=None)
        if req.kind == "eval_suite":
            from mlform.providers.builtin.evals import apply_suite
            return apply_suite(self, req)
        resp = ApplyChangeResponse(new_state=None)
        planned = dict(req.planned_state or {})
        if req.kind == "model":
            src = planned.get("source")
            if isinstance(src, str) and "://" not in src:
                p = (self.project_dir / src).resolve()
                if not p.is_file():
                    resp.diagnostics.error("Model artifact not found", f"{p} disappeared between plan and apply.",
                                           path=("source",))
                    return resp
                planned.update(digest=file_digest(p), size_bytes=p.stat().st_size, path=str(p))
                planned.update(_onnx_io(p) if planned.get("format") == "onnx" else {})
            else:
                resp.diagnostics.error("Remote model sources are not supported by the builtin provider",
                                       f"{src}: download the artifact, or let a cloud provider's endpoint "
                                       "reference it.", path=("source",))
                return resp
        resp.new_state = planned
        return resp


def _onnx_io(p: Path) -> dict[str, Any]:
    try:
        import onnx
        m = onnx.load(str(p), load_external_data=False)
    except Exception:
        return {}

    def io(vs: Any) -> list[dict[str, Any]]:
        out = []
        for v in vs:
            t = v.type.tensor_type
            shape = [d.dim_value if d.HasField("dim_value") else -1 for d in t.shape.dim]
            out.append({"name": v.name, "shape": shape, "elem_type": int(t.elem_type)})
        return out

    inits = {i.name for i in m.graph.initializer}
    return {"inputs": io([i for i in m.graph.input if i.name not in inits]), "outputs": io(m.graph.output)}


def _check_placeholders(cfg: dict[str, Any], d: Diagnostics) -> None:
    tmpl, declared = cfg.get("template"), cfg.get("variables")
    if not isinstance(tmpl, str) or contains_unknown(declared):
        return
    used = set(PLACEHOLDER.findall(tmpl))
    decl = set(declared or [])
    if declared is None and used:
        d.error("Prompt variables not declared", "The template uses " + ", ".join(f"{{{{ {u} }}}}" for u in sorted(used))
                + f' but no `variables` list is given. Add variables = {json.dumps(sorted(used))}.', path=("variables",))
        return
    for u in sorted(used - decl):
        d.error("Undeclared prompt placeholder", f'The template uses {{{{ {u} }}}}, which is not in `variables`. '
                f'Add "{u}" to variables, or fix the placeholder.', path=("template",))
    for u in sorted(decl - used):
        d.warning("Unused prompt variable", f'"{u}" is declared in `variables` but the template never uses '
                  f"{{{{ {u} }}}}.", path=("variables",))


__all__ = ["BuiltinProvider", "file_digest", "prompt_version", "os"]
