"""An evaluated attribute value converted to the type its schema declares.

Strings, numbers and bools convert as HCL converts them (``"3"`` to 3 for a
number); a reference attribute (``ref(model)``) keeps only the fields of the
referenced resource listed in :data:`REF_FIELDS`. A value of the wrong type is
an "Incorrect attribute value type" diagnostic at the attribute.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.diagnostics import Diagnostics, SourceRange
from mlform.engine.expr.eval import to_string
from mlform.engine.values import UNKNOWN, type_name

# What an attribute that references another resource keeps of it.
REF_FIELDS = {
    "model": ("address", "digest", "path", "format", "version", "source"),
    "eval_suite": ("address",),
    "prompt": ("address", "version", "digest", "template", "variables", "model_params"),
    "endpoint": ("address", "url", "active_model_digest"),
}
# Kept only when set: an endpoint serving a prompt carries it (suites send its variables, and
# its version is part of what a suite's result depends on); one without shows no prompt at all.
OPTIONAL_REF_FIELDS = {"endpoint": ("prompt",)}


def coerce(v: Any, typ: str, name: str, rng: SourceRange, d: Diagnostics) -> Any:
    if v is UNKNOWN or v is None:
        return v
    if typ.startswith("ref(") or typ.startswith("list(ref("):
        return ref_value(v, typ, name, rng, d)
    base = typ.split("(")[0]
    bad = False
    if base == "string":
        if isinstance(v, (dict, list)):
            bad = True
        else:
            return to_string(v, rng)
    elif base == "number":
        if isinstance(v, bool):
            bad = True
        elif isinstance(v, str):
            try:
                return int(v) if v.lstrip("-").isdigit() else float(v)
            except ValueError:
                bad = True
        elif not isinstance(v, (int, float)):
            bad = True
    elif base == "bool":
        if isinstance(v, str) and v in ("true", "false"):
            return v == "true"
        bad = not isinstance(v, bool)
    elif base == "list":
        bad = not isinstance(v, list)
        inner = typ[5:-1]
        if not bad and inner in ("string", "number"):
            return [coerce(x, inner, name, rng, d) for x in v]
    elif base == "map":
        bad = not isinstance(v, dict)
    if bad:
        d.error("Incorrect attribute value type",
                f'Inappropriate value for attribute "{name}": {typ} required, got {type_name(v)}.', rng)
    return v

def ref_value(v: Any, typ: str, name: str, rng: SourceRange, d: Diagnostics) -> Any:
    if typ.startswith("list("):
        if not isinstance(v, list):
            d.error("Incorrect attribute value type", f'"{name}" must be a list of references.', rng)
            return v
        return [ref_value(x, typ[5:-1], name, rng, d) for x in v]
    if v is UNKNOWN:
        return v
    if not isinstance(v, dict) or "address" not in v:
        d.error("Invalid reference", f'"{name}" must reference a resource, got {type_name(v)}.', rng)
        return v
    kind = str(v["address"]).split(".", 1)[0]
    ref = {k: v.get(k) for k in REF_FIELDS.get(kind, ("address",)) if k in v}
    ref.update({k: v[k] for k in OPTIONAL_REF_FIELDS.get(kind, ()) if v.get(k) is not None})
    return ref
