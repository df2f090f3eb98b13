"""Sensitive values in unencrypted state: stored as a digest, never as plaintext.

Without encryption at rest, every value at a resource's ``sensitive_paths``
(and every sensitive output) is written as ``{"__mlform_sensitive_sha256__":
"<hex>"}``: the SHA-256 of the value's canonical JSON. The plaintext stays in
memory for the run that produced it; what reaches the disk - the document,
its backup and each journal record - holds only the marker.

The digest keeps drift and change detection working: :func:`unmask` puts a
value back wherever it matches a marker's digest, so a plan against the
same configuration (or a provider that reads the same secret back) sees no
change, and a changed secret is an update. With encryption on, values are
stored as they are (the whole document is sealed).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

MARKER = "__mlform_sensitive_sha256__"

Path = Sequence[str | int]


def digest(value: Any) -> str:
    """SHA-256 hex of ``value``'s canonical JSON."""
    data = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def is_marker(value: Any) -> bool:
    """Whether ``value`` is a stored digest marker."""
    return isinstance(value, dict) and len(value) == 1 and MARKER in value


def _mask_at(value: Any, path: Path) -> Any:
    if not path:
        return value if is_marker(value) or value is None else {MARKER: digest(value)}
    head, rest = path[0], path[1:]
    if isinstance(value, dict) and head in value:
        return {**value, head: _mask_at(value[head], rest)}
    if isinstance(value, list) and isinstance(head, int) and 0 <= head < len(value):
        out = list(value)
        out[head] = _mask_at(value[head], rest)
        return out
    return value


def mask(attributes: dict[str, Any], paths: Sequence[Path]) -> dict[str, Any]:
    """A copy of ``attributes`` with the value at each path replaced by its marker."""
    out: Any = attributes
    for p in paths:
        if p:
            out = _mask_at(out, list(p))
    return out  # type: ignore[no-any-return]


def mask_outputs(outputs: dict[str, Any]) -> dict[str, Any]:
    """Outputs with the values of sensitive ones replaced by markers."""
    if not any(isinstance(o, dict) and o.get("sensitive") for o in outputs.values()):
        return outputs
    return {k: ({**o, "value": _mask_at(o.get("value"), [])} if isinstance(o, dict) and o.get("sensitive") else o)
            for k, o in outputs.items()}


def unmask(stored: Any, current: Any) -> Any:
    """``stored`` with each marker whose digest matches the value at the same
    place in ``current`` replaced by that value; other markers stay."""
    if is_marker(stored):
        if current is not None and not is_marker(current) and digest(current) == stored[MARKER]:
            return current
        return stored
    if isinstance(stored, dict) and isinstance(current, dict):
        return {k: unmask(v, current.get(k)) for k, v in stored.items()}
    if isinstance(stored, list) and isinstance(current, list):
        return [unmask(v, current[i]) if i < len(current) else v for i, v in enumerate(stored)]
    return stored


def contains_marker(value: Any) -> bool:
    """Whether a stored digest marker is anywhere in ``value``."""
    if is_marker(value):
        return True
    if isinstance(value, dict):
        return any(contains_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_marker(v) for v in value)
    return False


def has_sensitive(state: Any) -> bool:
    """Whether ``state`` holds anything :func:`mask_state` would change."""
    return any(r.sensitive_paths for r in state.resources) or any(
        isinstance(o, dict) and o.get("sensitive") for o in state.outputs.values())


def mask_state(state: Any) -> Any:
    """A copy of the State with sensitive values masked (the input is untouched)."""
    if not has_sensitive(state):
        return state
    resources = [r.model_copy(update={"attributes": mask(r.attributes, r.sensitive_paths)})
                 if r.sensitive_paths else r for r in state.resources]
    return state.model_copy(update={"resources": resources, "outputs": mask_outputs(state.outputs)})
