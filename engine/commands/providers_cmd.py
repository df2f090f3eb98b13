"""``mlform providers`` and ``mlform providers schema --json`` (as Terraform's).

``providers`` prints the providers the configuration uses as a tree: each
provider (and aliased configuration) with its version and the resources it
serves. ``providers schema --json`` prints every installed provider's schema:
its provider block and, per kind it serves, the common schema merged with
what it declares, in the layout of ``terraform providers schema -json``
(plus mlform's ``forces_replacement`` and ``references``).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.version import version_info
from mlform.engine.config import schema as S
from mlform.engine.config.decode import load_config
from mlform.engine.config.provider_schema import provider_schema, resource_spec
from mlform.engine.diagnostics import Diagnostics, error
from mlform.engine.providers.registry import available, get_provider_class

FORMAT_VERSION = "1.0"
ALIAS = S.AttrSpec("string", description="a name for a second configuration of this provider, "
                                          "referenced as provider.NAME.ALIAS")


def run_providers(s: C.Session) -> int:
    """Print the tree of providers the configuration requires; exit 1 when it has errors."""
    cfg, d = load_config(s.directory)
    if cfg is None:
        render(d, s.sources, s.color)
        return 1
    s.sources.update(cfg.sources)
    versions = version_info().providers
    users: dict[str, list[str]] = {}
    for p in cfg.providers.values():
        users.setdefault(p.key, [])
    for r in cfg.resources.values():
        users.setdefault(r.provider_key, []).append(r.address)
    lines = ["", "Providers required by configuration:", "."]
    keys = sorted(users)
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        lines.append(("└── " if last else "├── ") + _label(key, versions))
        addrs = sorted(users[key])
        for j, addr in enumerate(addrs):
            lines.append(("    " if last else "│   ") + ("└── " if j == len(addrs) - 1 else "├── ") + addr)
    sys.stdout.write("\n".join(lines) + "\n\n")
    if d:
        render(d, s.sources, s.color)
    return 1 if d.has_errors else 0


def _label(key: str, versions: dict[str, str | None]) -> str:
    parts = key.split(".")
    name, alias = parts[1], parts[2] if len(parts) > 2 else None
    out = f"provider[{name}]" + (f".{alias}" if alias else "")
    if get_provider_class(name) is None:
        return out + " (not installed)"
    v = versions.get(name)
    return out + (f" v{v}" if v else "")


def run_providers_schema(s: C.Session, json_out: bool) -> int:
    """Print every installed provider's schema as JSON (``--json`` is required, as in Terraform)."""
    if not json_out:
        render([error("The --json flag is required", "`mlform providers schema` prints JSON only: run "
                       "`mlform providers schema --json`.")], s.sources, s.color)
        return 1
    doc, d = schemas_document()
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if d:
        render(d, s.sources, s.color)
    return 1 if d.has_errors else 0


def schemas_document() -> tuple[dict[str, Any], Diagnostics]:
    """``{format_version, provider_schemas: {name: {provider, resource_schemas}}}`` for every installed provider."""
    d = Diagnostics()
    out: dict[str, Any] = {}
    for name in available():
        got = provider_schema(name)
        if got is None:
            continue
        d.extend(got.diagnostics)
        resources = {}
        for kind in got.kinds:
            spec = resource_spec(kind, name) if kind in S.KIND_SPECS else got.kind_schemas.get(kind)
            if spec is not None:
                resources[kind] = {"version": 0, "block": block_json(spec)}
        out[name] = {"provider": {"version": 0, "block": block_json(got.provider, extra={"alias": ALIAS})},
                     "resource_schemas": resources}
    return {"format_version": FORMAT_VERSION, "provider_schemas": out}, d


def block_json(spec: S.BlockSpec, extra: dict[str, S.AttrSpec] | None = None) -> dict[str, Any]:
    """A block's schema as Terraform's JSON writes it: ``attributes`` and ``block_types``."""
    attrs = {**(extra or {}), **spec.attrs}
    out: dict[str, Any] = {"attributes": {n: _attr_json(a) for n, a in sorted(attrs.items())}, "block_types": {}}
    for name, ns in sorted(spec.blocks.items()):
        mode = "map" if ns.labels else ("single" if ns.max_items == 1 else "list")
        bt: dict[str, Any] = {"nesting_mode": mode, "block": block_json(ns.block)}
        if ns.required:
            bt["min_items"] = 1
        if ns.max_items is not None and mode == "list":
            bt["max_items"] = ns.max_items
        out["block_types"][name] = bt
    if spec.any_attrs:
        out["any_attributes"] = True
    return out


def _attr_json(a: S.AttrSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": type_json(a.type), "description": a.description,
                           "required": a.required, "optional": not a.required and not a.computed,
                           "computed": a.computed, "sensitive": a.sensitive, "forces_replacement": a.force_new}
    if "ref(" in a.type:
        out["references"] = a.type[a.type.index("ref(") + 4:a.type.index(")")].split("|")
    return out


def type_json(t: str) -> Any:
    """mlform's type strings as cty's JSON: ``"string"``, ``["list", "string"]``, ``"dynamic"`` for any."""
    if t in ("string", "number", "bool"):
        return t
    for coll in ("list", "map", "set"):
        if t.startswith(coll + "(") and t.endswith(")"):
            return [coll, type_json(t[len(coll) + 1:-1])]
    return "dynamic"  # any, and ref(kind): a direct reference to another block


__all__ = ["block_json", "run_providers", "run_providers_schema", "schemas_document", "type_json"]
