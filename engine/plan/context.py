"""The evaluation context shared by plan and apply.

It owns the scope (variables, locals, resource values) and knows how to turn
a resource block into the evaluated configuration of each of its instances.
"""

from __future__ import annotations

import math

import os
from dataclasses import dataclass, field
from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.bodycheck import check_enum
from mlform.engine.config.model import Config, ResourceDecl
from mlform.engine.config.variables import VarSources, convert, convert_default, gather
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine.expr.eval import ERRORED, EvalError, Scope, UpstreamError
from mlform.engine.expr.scope import evaluate
from mlform.engine.load import ast as A
from mlform.engine.plan.coerce import OPTIONAL_REF_FIELDS, REF_FIELDS, coerce
from mlform.engine.values import UNKNOWN, InstanceMap, contains_unknown, type_name

__all__ = ["EvalContext", "Instance", "REF_FIELDS", "OPTIONAL_REF_FIELDS", "base_address", "instance_address"]


@dataclass
class Instance:
    """One instance of a resource block (``endpoint.r["eu"]``)."""

    decl: ResourceDecl
    key: str | int | None
    address: str
    each: dict[str, Any] | None = None


def base_address(address: str) -> str:
    """The block an instance address belongs to: ``endpoint.e["eu"]`` -> ``endpoint.e``."""
    return address.split("[", 1)[0]


def instance_address(base: str, key: str | int | None) -> str:
    if key is None:
        return base
    if isinstance(key, int):
        return f"{base}[{key}]"
    return f'{base}["{key}"]'


class ResourceValues(dict[str, Any]):
    """Block address -> value, also kept per kind (``{"prompt": {"p": ...}}``).

    The per-kind view is what a scope shows under ``prompt``, ``model``...;
    keeping it up to date on every write makes :meth:`EvalContext.scope`
    O(1) instead of O(resources), which made planning N resources O(N^2).
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__()
        self.by_kind: dict[str, dict[str, Any]] = {k: {} for k in S.RESOURCE_KINDS}
        self.update(*args, **kw)

    def __setitem__(self, addr: str, value: Any) -> None:
        super().__setitem__(addr, value)
        kind, name = addr.split(".", 1)
        self.by_kind.setdefault(kind, {})[name] = value

    def __delitem__(self, addr: str) -> None:
        super().__delitem__(addr)
        kind, name = addr.split(".", 1)
        self.by_kind.get(kind, {}).pop(name, None)

    def setdefault(self, addr: str, default: Any = None) -> Any:
        if addr not in self:
            self[addr] = default
        return self[addr]

    def update(self, *args: Any, **kw: Any) -> None:
        for k, v in dict(*args, **kw).items():
            self[k] = v

    def pop(self, addr: str, *default: Any) -> Any:
        if addr in self:
            v = self[addr]
            del self[addr]
            return v
        if default:
            return default[0]
        raise KeyError(addr)

    def clear(self) -> None:
        super().clear()
        for m in self.by_kind.values():
            m.clear()


@dataclass
class EvalContext:
    cfg: Config
    var_values: dict[str, Any] = field(default_factory=dict)
    local_values: dict[str, Any] = field(default_factory=dict)
    resource_values: ResourceValues = field(default_factory=ResourceValues)  # block address -> value
    sensitive_vars: set[str] = field(default_factory=set)
    sensitive_locals: set[str] = field(default_factory=set)
    # block address -> attribute paths that are sensitive in some instance (as strings)
    sensitive_attrs: dict[str, set[tuple[str, ...]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.resource_values, ResourceValues):
            self.resource_values = ResourceValues(self.resource_values)
        d = str(self.cfg.directory)
        self._path = {"module": d, "root": d}

    # --- scope -----------------------------------------------------------------
    def scope(self, extra: dict[str, Any] | None = None) -> Scope:
        """The names expressions see. The per-kind maps are shared, not copied:
        a scope is for evaluating now, and sees later writes."""
        names: dict[str, Any] = {
            "var": self.var_values,
            "local": self.local_values,
            "path": {**self._path, "cwd": os.getcwd()},  # str(Path.cwd()), without a Path per instance
        }
        names.update(self.resource_values.by_kind)
        if extra:
            names.update(extra)
        return Scope(names, self.cfg.directory)

    # --- variables and locals ---------------------------------------------------
    def load_variables(self, sources: VarSources, environ: dict[str, str] | None = None,
                       fixed: dict[str, Any] | None = None) -> Diagnostics:
        """Resolve every variable's value (or take ``fixed`` from a saved plan)."""
        d = Diagnostics()
        if fixed is not None:
            self.var_values = dict(fixed)
        else:
            inputs, d = gather(self.cfg, sources, environ)
            for name, decl in self.cfg.variables.items():
                if name in inputs:
                    self.var_values[name] = convert(decl, inputs[name], d)
                elif decl.default is not None:
                    try:
                        self.var_values[name] = convert_default(
                            decl, evaluate(decl.default, Scope({}, self.cfg.directory)), d)
                    except EvalError as e:
                        d.extend(e.diagnostics)
                else:
                    d.error("No value for required variable",
                            f'The variable "{name}" has no default and no value was given. Set it with '
                            f"--var {name}=VALUE, a --var-file, a *.auto.mlfvars.hcl file, or MLF_VAR_{name}.",
                            decl.rng)
        self.sensitive_vars = {n for n, v in self.cfg.variables.items() if v.sensitive}
        if d.has_errors:
            return d
        for name, decl in self.cfg.variables.items():
            for cond, msg, rng in decl.validations:
                try:
                    ok = evaluate(cond, self.scope())
                    if ok is UNKNOWN or ok is True:
                        continue
                    message = evaluate(msg, self.scope())
                except EvalError as e:
                    d.extend(e.diagnostics)
                    continue
                d.error("Invalid value for variable", f"{message}\n\nThis was checked by the validation rule "
                        f"at {rng}. The value given was {self._show_var(name)}.", cond.rng)
        return d

    def _show_var(self, name: str) -> str:
        if name in self.sensitive_vars:
            return "(sensitive)"
        from mlform.engine.plan.render import fmt_scalar

        return fmt_scalar(self.var_values.get(name))  # as written in HCL: "dev", not Python's 'dev'

    def eval_local(self, name: str) -> None:
        a = self.cfg.locals[name]
        try:
            self.local_values[name] = evaluate(a.expr, self.scope())
        except EvalError:
            self.local_values[name] = ERRORED  # reported once, here; what reads it fails quietly
            raise
        if self._refs_sensitive(a.expr):
            self.sensitive_locals.add(name)

    def provider_config(self, key: str) -> dict[str, Any]:
        """The evaluated attributes of provider block ``key`` (``alias`` left out)."""
        scope = self.scope()
        return {n: evaluate(a.expr, scope) for n, a in self.cfg.providers[key].body.attributes.items() if n != "alias"}

    def refs_sensitive(self, e: A.Expr) -> bool:
        """Whether ``e`` (an output's value, say) reads a sensitive value."""
        return self._refs_sensitive(e)

    def _refs_sensitive(self, e: A.Expr, whole_objects: bool = True) -> bool:
        """Whether ``e`` reads a sensitive value. ``whole_objects=False``: a bare resource
        reference does not count (a ``ref(...)`` attribute keeps only its address, URL and
        digests)."""
        for trav, _ in A.references(e):
            if len(trav) >= 2 and ((trav[0] == "var" and trav[1] in self.sensitive_vars)
                                   or (trav[0] == "local" and trav[1] in self.sensitive_locals)
                                   or ((whole_objects or len(trav) > 2) and self._resource_ref_sensitive(trav))):
                return True
        return False

    def _resource_ref_sensitive(self, trav: tuple[str, ...]) -> bool:
        """Whether a reference into a resource reaches one of its sensitive attributes
        (``endpoint.e.environment.TOKEN`` when ``environment`` came from a sensitive variable)."""
        if trav[0] not in S.RESOURCE_KINDS:
            return False
        base = f"{trav[0]}.{trav[1]}"
        paths = self.sensitive_attrs.get(base)
        if not paths:
            return False
        rest = list(trav[2:])
        decl = self.cfg.resources.get(base)
        if rest and decl is not None and (decl.count is not None or decl.for_each is not None):
            rest = rest[1:]  # the instance key
        return any(tuple(rest[:len(p)]) == p[:len(rest)] for p in paths)  # one path holds the other

    # --- resources ---------------------------------------------------------------
    def expand(self, r: ResourceDecl) -> list[Instance]:
        """The instances of ``r`` (count / for_each). Raises DiagnosticsError."""
        if r.count is not None:
            n = evaluate(r.count, self.scope())
            if n is UNKNOWN:
                raise DiagnosticsError(error('Invalid count argument', 'The "count" value depends on values known '
                                             "only after apply. Use values known at plan time.", r.count.rng))
            if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0 or not math.isfinite(n) or int(n) != n:
                raise DiagnosticsError(error('Invalid count argument',
                                             f'"count" must be a whole number >= 0, got {type_name(n)} {n!r}.', r.count.rng))
            return [Instance(r, i, instance_address(r.address, i)) for i in range(int(n))]
        if r.for_each is not None:
            fe = evaluate(r.for_each, self.scope())
            # Only the keys decide the instances: a map whose values are
            # known after apply is fine, as in Terraform.
            if fe is UNKNOWN or (not isinstance(fe, dict) and contains_unknown(fe)):
                raise DiagnosticsError(error('Invalid for_each argument', 'The "for_each" value depends on values '
                                             "known only after apply. Use values known at plan time.", r.for_each.rng))
            if isinstance(fe, dict):
                items = [(str(k), v) for k, v in sorted(fe.items())]
            elif isinstance(fe, list) and all(isinstance(x, str) for x in fe):
                if len(set(fe)) != len(fe):
                    raise DiagnosticsError(error('Invalid for_each argument', 'The set has duplicate elements; '
                                                 "wrap it in toset().", r.for_each.rng))
                items = [(x, x) for x in sorted(fe)]
            else:
                raise DiagnosticsError(error('Invalid for_each argument',
                                             'The "for_each" value must be a map, or a set of strings, '
                                             f"and you have provided a {type_name(fe)}. Use toset([...]) or a map.",
                                             r.for_each.rng))
            return [Instance(r, k, instance_address(r.address, k), {"key": k, "value": v}) for k, v in items]
        return [Instance(r, None, r.address)]

    def instance_scope(self, inst: Instance) -> Scope:
        extra: dict[str, Any] = {}
        if inst.each is not None:
            extra["each"] = inst.each
        if inst.decl.count is not None:
            extra["count"] = {"index": inst.key}
        return self.scope(extra)

    def eval_config(self, inst: Instance) -> tuple[dict[str, Any], list[list[str | int]], Diagnostics]:
        """Evaluate an instance's body: (config, sensitive paths, diagnostics)."""
        d = Diagnostics()
        spec = inst.decl.spec  # the common schema merged with its provider's
        scope = self.instance_scope(inst)
        sens: list[list[str | int]] = []
        cfg = self._eval_body(inst.decl.body, spec, scope, d, (), sens, skip=S.META_ARGS)
        return cfg, sens, d

    def _eval_body(self, body: A.Body, spec: S.BlockSpec, scope: Scope, d: Diagnostics,
                   path: tuple[str | int, ...], sens: list[list[str | int]],
                   skip: tuple[str, ...] = ()) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, a in body.attributes.items():
            if name in skip:
                continue
            aspec = spec.attrs.get(name, S.AttrSpec())
            try:
                v = evaluate(a.expr, scope)
            except UpstreamError:
                out[name] = ERRORED  # depends on something that failed: no provider sees this config
                continue
            except EvalError as e:
                d.extend(e.diagnostics)
                continue
            v = coerce(v, aspec.type, name, a.expr.rng, d)
            if aspec.enum:  # a value from a variable or local (a literal was checked when decoding)
                check_enum(v, aspec, name, a.expr.rng, d)
            out[name] = v
            if self._refs_sensitive(a.expr, whole_objects="ref(" not in aspec.type) or aspec.sensitive:
                sens.append(list(path) + [name])
        for nb in body.blocks:
            if nb.type in skip:
                continue
            ns = spec.blocks.get(nb.type)
            if ns is None:
                continue
            inner = self._eval_body(nb.body, ns.block, scope, d, path + (nb.type,), sens)
            if ns.labels:
                inner = {ns.label_key: nb.labels[0], **inner}
                out.setdefault(nb.type, []).append(inner)
            elif ns.max_items == 1:
                out[nb.type] = inner
            else:
                out.setdefault(nb.type, []).append(inner)
        return out

    def set_instance_value(self, inst: Instance, value: dict[str, Any],
                           sensitive_paths: list[list[str | int]] | None = None) -> None:
        """Record an instance's (planned or applied) attributes for references; a reference
        to one of its ``sensitive_paths`` makes what uses it sensitive too."""
        if sensitive_paths:
            self.sensitive_attrs.setdefault(inst.decl.address, set()).update(
                tuple(str(x) for x in p) for p in sensitive_paths)
        self._put(inst, {**value, "address": inst.address, "name": inst.decl.name})

    def set_instance_errored(self, inst: Instance) -> None:
        """Mark an instance whose evaluation or planning failed (and was reported):
        references to it then fail without a diagnostic of their own."""
        self._put(inst, ERRORED)

    def set_errored(self, r: ResourceDecl) -> None:
        """Mark a whole resource block (its count or for_each failed, or planning it raised)."""
        self.resource_values[r.address] = ERRORED

    def _put(self, inst: Instance, obj: Any) -> None:
        base = inst.decl.address
        if inst.decl.count is not None:
            lst = self.resource_values.setdefault(base, [])
            assert isinstance(lst, list)
            while len(lst) <= int(inst.key or 0):
                lst.append(None)
            lst[int(inst.key or 0)] = obj
        elif inst.decl.for_each is not None:
            m = self.resource_values.setdefault(base, InstanceMap())
            m[str(inst.key)] = obj
        else:
            self.resource_values[base] = obj

    def init_empty(self, r: ResourceDecl) -> None:
        if r.count is not None:
            self.resource_values[r.address] = []
        elif r.for_each is not None:
            self.resource_values[r.address] = InstanceMap()

