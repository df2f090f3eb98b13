"""What the local provider's state and server directories hold: version ids, the
served prompt, the admin token, and the small JSON files beside each server."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mlform.engine.providers.protocol import v2_model_name
from mlform.engine.values import UNKNOWN, contains_unknown

ADOPT_FILE = "adopt.json"

# One server per endpoint, named (and serving its model) as the protocol says.
server_name = v2_model_name


def version_id(digest: str | None, prompt_version: str | None = None) -> str:
    """The served version's id: the model digest's first 12 hex digits, plus the
    prompt version when the endpoint serves a prompt (``v-<digest>-p<prompt>``)."""
    vid = "v-" + (digest or "unknown").split(":")[-1][:12]
    return f"{vid}-p{prompt_version}" if prompt_version else vid


def served_prompt(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """The prompt an endpoint's state serves, as the server takes it, or ``None``."""
    p = (state or {}).get("prompt")
    if not isinstance(p, dict) or not isinstance(p.get("template"), str):
        return None
    return {"template": p["template"], "variables": p.get("variables"),
            "model_params": p.get("model_params") or {}, "version": p.get("version")}


def state_version(state: dict[str, Any] | None) -> Any:
    """The version id ``state`` serves (model digest and prompt version); UNKNOWN while either is."""
    st = state or {}
    model = st.get("model")
    digest = model.get("digest") if isinstance(model, dict) else st.get("active_model_digest")
    prompt = st.get("prompt")
    pver = prompt.get("version") if isinstance(prompt, dict) else None
    if contains_unknown(digest) or contains_unknown(pver) or contains_unknown(prompt):
        return UNKNOWN
    return version_id(digest, pver)


def admin_token(private: dict[str, Any]) -> str:
    """The server's admin token, read from its 0600 config file (never from state)."""
    try:
        return str(json.loads(Path(private["config_path"]).read_text())["token"])
    except (OSError, KeyError, ValueError):
        return ""


def handle(private: dict[str, Any]) -> tuple[str, str]:
    """The server's URL and admin token."""
    return private.get("url", ""), admin_token(private)


def read_json(path: Path) -> dict[str, Any]:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` atomically (0600, fsynced): a reader sees the old file or the new one."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, default=lambda _: None)  # an unknown estimate is recorded as null
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
