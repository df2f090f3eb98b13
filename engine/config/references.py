"""Every reference in a configuration names something declared, and is used where it may be."""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.model import Config, ResourceDecl
from mlform.engine.diagnostics import Diagnostics, did_you_mean
from mlform.engine.load import ast as A

_ALWAYS = {"path", "terraform", "mlform"}


def check_references(cfg: Config, d: Diagnostics) -> None:
    def check(e: A.Expr | None, ctx: str, res: ResourceDecl | None = None) -> None:
        if e is None:
            return
        for trav, rng in A.references(e):
            root = trav[0]
            if root == "var":
                if len(trav) < 2:
                    d.error("Invalid reference", "Write var.NAME.", rng)
                elif trav[1] not in cfg.variables and f"var.{trav[1]}" not in cfg.errored:
                    d.error("Reference to undeclared input variable",
                            f'An input variable named "{trav[1]}" has not been declared.'
                            + did_you_mean(trav[1], cfg.variables)
                            + f' Declare it with `variable "{trav[1]}" {{}}`.', rng)
            elif root == "local":
                if len(trav) < 2 or trav[1] not in cfg.locals:
                    nm = trav[1] if len(trav) > 1 else ""
                    d.error("Reference to undeclared local value",
                            f'A local value named "{nm}" has not been declared.' + did_you_mean(nm, cfg.locals), rng)
            elif root in S.RESOURCE_KINDS:
                if len(trav) < 2:
                    d.error("Invalid reference", f"Write {root}.NAME.", rng)
                    continue
                addr = f"{root}.{trav[1]}"
                target = cfg.resources.get(addr)
                if target is None and addr in cfg.errored:
                    continue  # its block was reported already
                if target is None:
                    d.error("Reference to undeclared resource",
                            f'A {root} resource named "{trav[1]}" has not been declared.'
                            + did_you_mean(trav[1], [r.name for r in cfg.resources.values() if r.kind == root]), rng)
                    continue
                if len(trav) >= 3 and target.count is None and target.for_each is None:
                    attr = trav[2]
                    spec = target.spec
                    if attr not in spec.attrs and attr not in spec.blocks and attr not in ("address", "name", "id"):
                        d.error("Unsupported attribute", f'A {root} has no attribute "{attr}".'
                                + did_you_mean(attr, list(spec.attrs) + list(spec.blocks)), rng)
            elif root == "each":
                if res is None or res.for_each is None:
                    d.error('Reference to "each" in context without for_each',
                            'each.key and each.value can be used only in a resource with "for_each".', rng)
            elif root == "count":
                if res is None or res.count is None:
                    d.error('Reference to "count" in non-counted context',
                            'count.index can be used only in a resource with "count".', rng)
            elif root in ("change", "plan"):
                if ctx != "policy":
                    d.error(f'Invalid reference to "{root}"', f"{root}.* can be used only in a policy condition.", rng)
            elif root == "provider":
                d.error("Invalid reference", "A provider can be referenced only in a resource's `provider` argument.",
                        rng)
            elif root not in _ALWAYS:
                known = ["var", "local", "each", "count", "path", *S.RESOURCE_KINDS]
                d.error("Reference to undeclared name", f'There is no "{root}" here.' + did_you_mean(root, known)
                        + " References start with var., local., or a resource kind such as model.", rng)

    for v in cfg.variables.values():
        for cond, msg, _ in v.validations:
            check(cond, "variable")
            check(msg, "variable")
        if v.default is not None:
            for trav, rng in A.references(v.default):
                d.error("Variables not allowed", "A variable's default must be a literal value, "
                        "not a reference.", rng)
    for a in cfg.locals.values():
        check(a.expr, "local")
    for o in cfg.outputs.values():
        check(o.value, "output")
    for r in cfg.resources.values():
        for name, a in r.body.attributes.items():
            if name in ("provider", "depends_on"):
                continue
            check(a.expr, "resource", r)
        for nb in r.body.blocks:
            if nb.type != "lifecycle":
                _check_nested(nb.body, lambda e: check(e, "resource", r))
        for addr, rng in r.depends_on:
            if addr not in cfg.resources and addr not in cfg.errored:
                d.error("Reference to undeclared resource", f'"{addr}" in depends_on has not been declared.', rng)
        if r.provider_key not in cfg.providers and r.provider_name not in ("builtin", "local") and \
                "provider" in r.body.attributes:
            d.error("Reference to undeclared provider",
                    f'No `provider "{r.provider_name}"` block declares {r.provider_key}. Add one.',
                    r.body.attributes["provider"].expr.rng)
    for p in cfg.policies.values():
        check(p.condition, "policy")
    for pr in cfg.providers.values():
        for a in pr.body.attributes.values():
            check(a.expr, "provider")


def _check_nested(body: A.Body, fn: Any) -> None:
    for a in body.attributes.values():
        fn(a.expr)
    for nb in body.blocks:
        _check_nested(nb.body, fn)
