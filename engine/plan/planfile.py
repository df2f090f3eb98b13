"""Saved plans: self-contained, digest-checked (SPEC §6)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import DiagnosticsError, error
from mlform.engine.plan.model import Plan

FORMAT = "mlform-plan"
VERSION = 1


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def write_plan(plan: Plan, path: Path) -> str:
    """Write ``plan`` and return its digest."""
    body = {"format": FORMAT, "format_version": VERSION, "plan": plan.to_dict()}
    digest = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    doc = {**body, "digest": digest}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1, sort_keys=True, default=str)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return digest


def read_plan(path: Path) -> tuple[Plan, str]:
    """Read and verify a saved plan. Raises DiagnosticsError when it cannot be trusted."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagnosticsError(error("Saved plan not found", f"{path} does not exist. "
                                     "Create one with `mlform plan --out FILE`.")) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not a plan file ({exc}).")) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not an mlform plan file."))
    digest = doc.pop("digest", None)
    want = "sha256:" + hashlib.sha256(_canonical(doc)).hexdigest()
    if digest != want:
        raise DiagnosticsError(error("Saved plan is corrupt or was modified",
                                     f"The digest recorded in {path} does not match its contents. "
                                     "Create a new plan with `mlform plan --out FILE`."))
    return Plan.from_dict(doc["plan"]), want
