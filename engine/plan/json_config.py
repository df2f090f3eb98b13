"""Plan JSON's ``configuration`` and ``planned_values``, as ``terraform show -json`` writes them.

``configuration.root_module.resources[].expressions`` holds each argument
as written, not evaluated: ``{"constant_value": V}`` for an expression
without references, ``{"references": [...]}`` otherwise (the full
traversal, then the object it belongs to: ``["model.m.version",
"model.m"]``); a nested block is a list of such objects. Scanners (Checkov)
and Rego policies read it to tell a literal from a reference.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.model import Config, ResourceDecl
from mlform.engine.load import ast as A
from mlform.engine.plan.model import Plan, ResourceChange
from mlform.engine.values import UNKNOWN, contains_unknown, redact

_META_ATTRS = ("count", "for_each", "provider", "depends_on")


def _ref_strings(cfg: Config, trav: A.Traversal) -> list[str]:
    """Terraform's spelling of one reference: the traversal, then its subject when shorter."""
    root = trav[0]
    if root in S.RESOURCE_KINDS and len(trav) >= 2:
        subject = f"{root}.{trav[1]}"
        rest = list(trav[2:])
        decl = cfg.resources.get(subject)
        if decl is not None and (decl.count is not None or decl.for_each is not None) and rest:
            key = rest.pop(0)
            idx = key if decl.count is not None and key.isdigit() else f'"{key}"'
            subject += f"[{idx}]"
        full = subject + "".join(f".{s}" for s in rest)
        return [full, subject] if full != subject else [subject]
    if root in ("var", "local") and len(trav) >= 2:
        subject = f"{root}.{trav[1]}"
        full = ".".join(trav)
        return [full, subject] if full != subject else [subject]
    return [".".join(trav[:2])]


def expression(cfg: Config, e: A.Expr, sensitive: bool = False) -> dict[str, Any]:
    """One argument as Terraform's ``expressions`` write it."""
    refs: list[str] = []
    for trav, _ in A.references(e):
        for r in _ref_strings(cfg, trav):
            if r not in refs:
                refs.append(r)
    if refs:
        return {"references": refs}
    if sensitive or any(isinstance(n, A.Call) for n in e.walk()):
        # as Terraform: a sensitive argument's constant is not written, and an expression
        # that calls a function (file(), filemd5()) is not evaluated here
        return {}
    from mlform.engine.expr.eval import EvalError
    from mlform.engine.expr.scope import evaluate_static

    try:
        value = evaluate_static(e, cfg.directory)
    except EvalError:
        return {}
    return {"constant_value": None if value is UNKNOWN else value}


def body_expressions(cfg: Config, body: A.Body, spec: S.BlockSpec | None, top: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attr in body.attributes.items():
        if top and name in _META_ATTRS:
            continue
        aspec = spec.attrs.get(name) if spec is not None else None
        out[name] = expression(cfg, attr.expr, sensitive=bool(aspec and aspec.sensitive))
    for blk in body.blocks:
        if top and blk.type == "lifecycle":
            continue
        nested = spec.blocks.get(blk.type) if spec is not None else None
        inner = body_expressions(cfg, blk.body, nested.block if nested is not None else None, top=False)
        if blk.labels:
            inner[nested.label_key if nested is not None else "name"] = {"constant_value": blk.labels[0]}
        out.setdefault(blk.type, []).append(inner)
    return out


def config_resource(cfg: Config, r: ResourceDecl) -> dict[str, Any]:
    out: dict[str, Any] = {
        "address": r.address, "mode": "managed", "type": r.kind, "name": r.name,
        "provider_config_key": r.provider_key,
        "expressions": body_expressions(cfg, r.body, r.spec),
        "schema_version": 0,
        "depends_on": [a for a, _ in r.depends_on],
    }
    if r.count is not None:
        out["count_expression"] = expression(cfg, r.count)
    if r.for_each is not None:
        out["for_each_expression"] = expression(cfg, r.for_each)
    return out


def relevant_attributes(cfg: Config) -> list[dict[str, Any]]:
    """The other resources' attributes the configuration reads (Terraform's ``relevant_attributes``)."""
    seen: dict[tuple[str, tuple[str, ...]], None] = {}
    exprs: list[A.Expr] = [o.value for o in cfg.outputs.values()] + [a.expr for a in cfg.locals.values()]
    for r in cfg.resources.values():
        exprs += _body_exprs(r.body)
        exprs += [e for e in (r.count, r.for_each) if e is not None]
    for e in exprs:
        for trav, _ in A.references(e):
            if trav[0] not in S.RESOURCE_KINDS or len(trav) < 3:
                continue
            full = _ref_strings(cfg, trav)
            subject = full[-1]
            attr = tuple(trav[3:] if "[" in subject else trav[2:])
            if attr:
                seen.setdefault((subject, attr[:1]), None)
    return [{"resource": res, "attribute": list(attr)} for res, attr in sorted(seen)]


def _body_exprs(body: A.Body) -> list[A.Expr]:
    out = [a.expr for n, a in body.attributes.items()]
    for b in body.blocks:
        out += _body_exprs(b.body)
    return out


def _known(v: Any) -> Any:
    """Planned values as Terraform writes them: an attribute known only after apply is left out."""
    if isinstance(v, dict):
        return {k: _known(x) for k, x in v.items() if x is not UNKNOWN}
    if isinstance(v, (list, tuple)):
        return [None if x is UNKNOWN else _known(x) for x in v]
    return v


def sensitive_tree(value: Any, paths: list[list[Any]]) -> Any:
    """``sensitive_values``: ``{}`` when nothing is sensitive, else true at each sensitive path."""
    out: dict[str, Any] = {}
    for p in paths:
        cur = out
        for step in p[:-1]:
            cur = cur.setdefault(str(step), {})
        if p:
            cur[str(p[-1])] = True
    return out


def planned_resource(c: ResourceChange) -> dict[str, Any]:
    return {
        "address": c.address, "mode": "managed", "type": c.kind, "name": c.name,
        **({"index": c.index_key} if c.index_key is not None else {}),
        "provider_name": c.provider, "schema_version": 0,
        "values": _known(redact_keep_unknown(c.after or {}, c.sensitive_paths)),
        "sensitive_values": sensitive_tree(c.after, c.sensitive_paths),
    }


def redact_keep_unknown(value: dict[str, Any], paths: list[list[Any]]) -> dict[str, Any]:
    """``value`` with sensitive paths null, unknown leaves kept (so :func:`_known` can drop them)."""
    unknown_top = {k for k, v in value.items() if v is UNKNOWN}
    out: dict[str, Any] = redact(value, paths) or {}
    for k in unknown_top:
        out[k] = UNKNOWN
    return out


def planned_values(plan: Plan) -> dict[str, Any]:
    """What the state will hold after apply: every resource not being destroyed, and the outputs."""
    outs: dict[str, Any] = {}
    for o in plan.output_changes:
        if o.action == "delete":
            continue
        entry: dict[str, Any] = {"sensitive": o.sensitive}
        if not o.sensitive and not contains_unknown(o.after):  # as Terraform: only a wholly known value
            entry["value"] = o.after
        outs[o.name] = entry
    return {
        "outputs": outs,
        "root_module": {"resources": [planned_resource(c) for c in plan.changes
                                      if c.action != "delete" and c.after is not None]},
    }


def config_summary(cfg: Any) -> dict[str, Any]:
    """The ``configuration`` object: providers, and the root module's resources (with their
    expressions), variables and outputs."""
    return {
        "provider_config": {k: {"name": p.name, **({"alias": p.alias} if p.alias else {})}
                            for k, p in sorted(cfg.providers.items())},
        "root_module": {
            "resources": [config_resource(cfg, r) for r in cfg.resources.values()],
            "variables": {n: {"description": v.description, **({"sensitive": True} if v.sensitive else {})}
                          for n, v in sorted(cfg.variables.items())},
            "outputs": {n: {"description": o.description, "sensitive": o.sensitive,
                            "expression": expression(cfg, o.value, sensitive=o.sensitive)}
                        for n, o in sorted(cfg.outputs.items())},
        },
    }
