"""Saved plans: self-contained, digest-checked (docs/plan-format.md).

A plan holds the resolved variables and planned attributes, sensitive ones
included (apply must carry out exactly this plan). With state encryption
configured (``MLFORM_STATE_KEY`` / ``MLFORM_STATE_KEY_FILE``) the file is
sealed with the same key (AES-GCM envelope, as encrypted state); without it
the file is plain JSON readable only by its owner (mode 0600), and the plan
command says that it holds sensitive values.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import DiagnosticsError, error
from mlform.engine.plan.model import Plan
from mlform.engine.state.crypto import ENV_KEY, ENV_KEY_FILE, Encryptor, is_envelope, load_encryptor, seal_bytes

FORMAT = "mlform-plan"
VERSION = 1
PURPOSE = "mlform-plan"  # bound into the AES-GCM tag: a sealed plan cannot pass for sealed state


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()


def holds_sensitive(plan: Plan) -> bool:
    """Whether the plan carries values marked sensitive (variables, attributes, outputs)."""
    return bool(plan.sensitive_variables) or any(c.sensitive_paths for c in plan.changes) or any(
        o.sensitive for o in plan.output_changes)


def write_plan(plan: Plan, path: Path, encryptor: Encryptor | None = None) -> str:
    """Write ``plan`` (sealed when ``encryptor`` is given) and return its digest."""
    body = {"format": FORMAT, "format_version": VERSION, "plan": plan.to_dict()}
    digest = "sha256:" + hashlib.sha256(_canonical(body)).hexdigest()
    doc = {**body, "digest": digest}
    data = json.dumps(doc, indent=1, sort_keys=True, default=str).encode("utf-8")
    if encryptor is not None:
        data = seal_bytes(data, encryptor, PURPOSE)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others, even briefly
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return digest


def save_plan(plan: Plan, path: Path) -> str:
    """Write ``plan`` to ``path``, sealed with the state key when one is configured;
    returns the note for the "Saved the plan to" line ("" when there is nothing to say)."""
    enc = load_encryptor()
    write_plan(plan, path, enc)
    if enc is not None:
        return " (encrypted with the state key)"
    if holds_sensitive(plan):
        return (f" (it holds sensitive values in plain text, readable only by you: set {ENV_KEY} "
                "to encrypt saved plans)")
    return ""


def read_plan(path: Path, encryptor: Encryptor | None = None) -> tuple[Plan, str]:
    """Read and verify a saved plan (opening a sealed one with ``encryptor``, or the key the
    environment configures). Raises DiagnosticsError when it cannot be trusted."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiagnosticsError(error("Saved plan not found", f"{path} does not exist. "
                                     "Create one with `mlform plan --out FILE`.")) from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not a plan file ({exc}).")) from None
    if is_envelope(doc):
        enc = encryptor or load_encryptor()
        if enc is None:
            raise DiagnosticsError(error("Saved plan is encrypted but no key is configured",
                                         f"{path} was sealed with the state encryption key. Set {ENV_KEY} "
                                         f"(or {ENV_KEY_FILE}) to that key, as for `mlform plan`."))
        try:
            doc = json.loads(enc.open(doc, PURPOSE, str(path)))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not a plan file ({exc}).")) \
                from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not an mlform plan file."))
    digest = doc.pop("digest", None)
    want = "sha256:" + hashlib.sha256(_canonical(doc)).hexdigest()
    if digest != want:
        raise DiagnosticsError(error("Saved plan is corrupt or was modified",
                                     f"The digest recorded in {path} does not match its contents. "
                                     "Create a new plan with `mlform plan --out FILE`."))
    try:
        return Plan.from_dict(doc["plan"]), want
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # sealed, but not by this mlform
        raise DiagnosticsError(error("Failed to read saved plan", f"{path} is not a plan this mlform can read "
                                     f"({type(exc).__name__}: {exc}). Create a new plan with "
                                     "`mlform plan --out FILE`.")) from None
