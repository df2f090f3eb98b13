"""Raw files -> :class:`Config`, with every schema mistake as a diagnostic.

Checks made here (no provider calls): block types and labels, duplicate
declarations, unknown or missing attributes and nested blocks (with "did you
mean"), attributes only a provider may set, literal value types, meta-
arguments, and that every reference names something declared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.model import (
    BackendDecl, Config, Lifecycle, OutputDecl, PolicyDecl, ProviderDecl, ResourceDecl, VariableDecl,
    literal_value,
)
from mlform.engine.config.vartypes import TypeSpecError, parse_type
from mlform.engine.diagnostics import Diagnostics, SourceRange, did_you_mean
from mlform.engine.load import ast as A
from mlform.engine.load.project import LoadedProject

_ENFORCEMENT = ("advisory", "soft_mandatory", "hard_mandatory")
_VAR_TYPES = ("string", "number", "bool", "any", "list", "map", "object", "set", "tuple")


def decode(project: LoadedProject) -> tuple[Config, Diagnostics]:
    """Decode a loaded project. Returns the config and all diagnostics found."""
    d = Diagnostics()
    cfg = Config(directory=project.directory, digest=project.digest, sources=dict(project.sources))
    for f in project.files:
        for b in f.body.blocks:
            _top_block(cfg, b, d)
        for name, a in f.body.attributes.items():
            d.error("Unexpected argument", f'An argument "{name}" is not allowed at the top level; '
                    "put it inside a block (for example `locals { ... }`).", a.name_rng)
    _check_references(cfg, d)
    return cfg, d


# --- top-level blocks ----------------------------------------------------------

def _labels_ok(b: A.Block, want: int, d: Diagnostics) -> bool:
    if len(b.labels) == want:
        return True
    what = {0: "no labels", 1: "one label (its name)", 2: "two labels"}[want]
    d.error(f'Wrong number of labels for "{b.type}" block',
            f'A "{b.type}" block takes {what}, not {len(b.labels)}. '
            + (f'Write it as `{b.type} "name" {{ ... }}`.' if want == 1 else f"Write it as `{b.type} {{ ... }}`."),
            b.rng)
    return False


def _top_block(cfg: Config, b: A.Block, d: Diagnostics) -> None:
    if b.type not in S.TOP_LABELS:
        d.error(f'Unsupported block type "{b.type}"',
                f'Blocks of type "{b.type}" are not expected here.' + did_you_mean(b.type, S.TOP_LEVEL)
                + " Known blocks: " + ", ".join(S.TOP_LEVEL) + ".", b.rng)
        return
    if not _labels_ok(b, S.TOP_LABELS[b.type], d):
        if b.labels and (b.type == "variable" or b.type in S.RESOURCE_KINDS):
            cfg.errored.add(("var" if b.type == "variable" else b.type) + "." + b.labels[0])
        return
    getattr(_Decoders, "b_" + b.type, _Decoders.b_resource)(cfg, b, d)


def _dup(kind: str, name: str, prev: SourceRange, rng: SourceRange, d: Diagnostics) -> None:
    d.error(f"Duplicate {kind} declaration", f'A {kind} named "{name}" was already declared at {prev}. '
            "Names must be unique; rename or remove one of them.", rng)


def check_body(body: A.Body, spec: S.BlockSpec, d: Diagnostics, where: str, extra_ok: tuple[str, ...] = (),
               header: SourceRange | None = None) -> None:
    """Unknown/missing/computed attributes and nested blocks of ``body``.

    ``header`` is the block's type-and-labels range: what is missing is
    reported there, as Terraform does.
    """
    if not spec.any_attrs:
        for name, a in body.attributes.items():
            if name in extra_ok:
                continue
            if name not in spec.attrs:
                if name in spec.blocks:
                    d.error("Unsupported argument", f'"{name}" is a block here, not an argument. '
                            f"Write it as `{name} {{ ... }}`.", a.name_rng)
                    continue
                d.error("Unsupported argument", f'An argument named "{name}" is not expected in {where}.'
                        + did_you_mean(name, list(spec.attrs) + list(extra_ok)), a.name_rng)
            elif spec.attrs[name].computed:
                d.error("Value for computed attribute", f'"{name}" is set by the provider after apply '
                        "and cannot be written in the configuration. Remove it.", a.name_rng)
            else:
                _check_literal_type(a, spec.attrs[name].type, d)
        for name, s in spec.attrs.items():
            if s.required and name not in body.attributes:
                d.error("Missing required argument", f'The argument "{name}" is required in {where}, '
                        "but no definition was found. Add it.", header or body.rng)
    counts: dict[str, int] = {}
    for nb in body.blocks:
        if nb.type in extra_ok:
            continue
        ns = spec.blocks.get(nb.type)
        if ns is None:
            hint = did_you_mean(nb.type, list(spec.blocks) + list(extra_ok))
            if nb.type in spec.attrs:
                hint = f' "{nb.type}" is an argument: write `{nb.type} = ...`.'
            d.error("Unsupported block type", f'Blocks of type "{nb.type}" are not expected in {where}.' + hint,
                    nb.rng)
            continue
        if len(nb.labels) != ns.labels:
            d.error(f'Wrong number of labels for "{nb.type}" block',
                    f'A "{nb.type}" block takes {ns.labels} label(s), not {len(nb.labels)}.', nb.rng)
            continue
        counts[nb.type] = counts.get(nb.type, 0) + 1
        if ns.max_items is not None and counts[nb.type] > ns.max_items:
            d.error(f'Too many "{nb.type}" blocks', f'Only {ns.max_items} "{nb.type}" block is allowed in {where}.',
                    nb.rng)
        check_body(nb.body, ns.block, d, f'a "{nb.type}" block', header=nb.rng)
    for name, ns in spec.blocks.items():
        if ns.required and name not in counts:
            d.error("Missing required block", f'A "{name}" block is required in {where}.', header or body.rng)


def _check_literal_type(a: A.Attribute, typ: str, d: Diagnostics) -> None:
    """Static type check when the value is written as a literal."""
    e = a.expr
    if not isinstance(e, (A.Literal, A.TupleExpr, A.ObjectExpr)) or typ in ("any",) or typ.startswith("ref("):
        if typ.startswith("ref(") or typ.startswith("list(ref("):
            _check_ref(a, typ, d)
        return
    base = typ.split("(")[0]
    v = e.value if isinstance(e, A.Literal) else None
    ok = True
    if base == "string":
        ok = isinstance(e, A.Literal) and (v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                           or isinstance(v, bool))
        ok = ok and not isinstance(e, (A.TupleExpr, A.ObjectExpr))
    elif base == "number":
        ok = isinstance(e, A.Literal) and (v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
                                           or (isinstance(v, str) and _numeric(v)))
    elif base == "bool":
        ok = isinstance(e, A.Literal) and (v is None or isinstance(v, bool) or v in ("true", "false"))
    elif base == "list":
        ok = isinstance(e, A.TupleExpr) or (isinstance(e, A.Literal) and v is None)
        if ok and isinstance(e, A.TupleExpr) and typ.startswith("list(ref("):
            _check_ref(a, typ, d)
            return
    elif base == "map":
        ok = isinstance(e, A.ObjectExpr) or (isinstance(e, A.Literal) and v is None)
    if not ok:
        got = {A.TupleExpr: "a list", A.ObjectExpr: "an object"}.get(type(e), _lit_type(v))
        d.error("Incorrect attribute value type",
                f'Inappropriate value for attribute "{a.name}": {typ} required, got {got}.', e.rng)


def _numeric(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _lit_type(v: Any) -> str:
    if isinstance(v, bool):
        return "a bool"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return f'the string "{v}"'
    return "null"


def _check_ref(a: A.Attribute, typ: str, d: Diagnostics) -> None:
    kinds = typ[typ.rindex("(") + 1:typ.index(")")].split("|")
    items = a.expr.items if isinstance(a.expr, A.TupleExpr) and typ.startswith("list(") else [a.expr]
    for it in items:
        t = A.traversal_of(it)
        if t is None or len(t[0]) < 2 or t[0][0] not in kinds:
            want = " or ".join(f"{k}.NAME" for k in kinds)
            d.error("Invalid reference", f'"{a.name}" must be a direct reference to {want}.', it.rng)


# --- one decoder per block type ---------------------------------------------------

class _Decoders:
    @staticmethod
    def b_mlform(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        check_body(b.body, S.MLFORM, d, "the mlform block", header=b.rng)
        rv = literal_value(b.body.attributes["required_version"].expr) if "required_version" in b.body.attributes else None
        if rv is not None:
            cfg.required_version = str(rv)
        for bb in b.body.blocks_of("backend"):
            if bb.labels and bb.labels[0] not in ("local", "s3", "gcs"):
                d.error("Unsupported backend type", f'Backend "{bb.labels[0]}" is not known. '
                        'Use "local", "s3" or "gcs".' + did_you_mean(bb.labels[0], ["local", "s3", "gcs"]),
                        bb.label_rngs[0] if bb.label_rngs else bb.rng)
            elif cfg.backend is not None:
                d.error("Duplicate backend configuration", f"A backend was already declared at {cfg.backend.rng}.",
                        bb.rng)
            elif bb.labels:
                cfg.backend = BackendDecl(bb.labels[0], bb.body, bb.rng)

    @staticmethod
    def b_provider(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        name = b.labels[0]
        alias = literal_value(b.body.attributes["alias"].expr) if "alias" in b.body.attributes else None
        p = ProviderDecl(name, alias, b.body, b.rng)
        if p.key in cfg.providers:
            _dup("provider", p.key, cfg.providers[p.key].rng, b.rng, d)
            return
        cfg.providers[p.key] = p

    @staticmethod
    def b_variable(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        name = b.labels[0]
        if name in cfg.variables:
            _dup("variable", name, cfg.variables[name].rng, b.rng, d)
            return
        check_body(b.body, S.VARIABLE, d, f'variable "{name}"', header=b.rng)
        at = b.body.attributes
        v = VariableDecl(name, b.rng)
        if "type" in at:
            t = at["type"].expr
            tname = t.name if isinstance(t, A.Variable) else (t.name if isinstance(t, A.Call) else None)
            if tname is None or tname not in _VAR_TYPES:
                d.error("Invalid type specification", "A variable type is one of: " + ", ".join(_VAR_TYPES)
                        + " (for example `type = string` or `type = list(string)`)."
                        + did_you_mean(tname or "", _VAR_TYPES), t.rng)
            else:
                v.type = tname
                try:
                    v.type_spec = parse_type(t)
                except TypeSpecError as e:
                    d.error("Invalid type specification", f"{e}.", e.rng)
        v.default = at["default"].expr if "default" in at else None
        v.description = str(literal_value(at["description"].expr) or "") if "description" in at else ""
        v.sensitive = literal_value(at["sensitive"].expr) is True if "sensitive" in at else False
        v.nullable = literal_value(at["nullable"].expr) is not False if "nullable" in at else True
        for vb in b.body.blocks_of("validation"):
            va = vb.body.attributes
            if "condition" in va and "error_message" in va:
                v.validations.append((va["condition"].expr, va["error_message"].expr, vb.rng))
        cfg.variables[name] = v

    @staticmethod
    def b_locals(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        for name, a in b.body.attributes.items():
            if name in cfg.locals:
                _dup("local value", name, cfg.locals[name].rng, a.rng, d)
                continue
            cfg.locals[name] = a
        for nb in b.body.blocks:
            d.error("Unsupported block type", "A locals block holds only `name = value` arguments.", nb.rng)

    @staticmethod
    def b_output(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        name = b.labels[0]
        if name in cfg.outputs:
            _dup("output", name, cfg.outputs[name].rng, b.rng, d)
            return
        check_body(b.body, S.OUTPUT, d, f'output "{name}"', header=b.rng)
        at = b.body.attributes
        if "value" not in at:
            return
        deps = [_dep_address(e, d) for e in _list_items(at.get("depends_on"))]
        cfg.outputs[name] = OutputDecl(
            name, at["value"].expr, b.rng,
            description=str(literal_value(at["description"].expr) or "") if "description" in at else "",
            sensitive=literal_value(at["sensitive"].expr) is True if "sensitive" in at else False,
            depends_on=[x for x in deps if x])

    @staticmethod
    def b_policy(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        name = b.labels[0]
        if name in cfg.policies:
            _dup("policy", name, cfg.policies[name].rng, b.rng, d)
            return
        check_body(b.body, S.POLICY, d, f'policy "{name}"', header=b.rng)
        at = b.body.attributes
        enf = literal_value(at["enforcement"].expr) if "enforcement" in at else "advisory"
        if enf not in _ENFORCEMENT:
            d.error("Invalid enforcement level", f'"{enf}" is not an enforcement level. Use one of: '
                    + ", ".join(_ENFORCEMENT) + "." + did_you_mean(str(enf), _ENFORCEMENT),
                    at["enforcement"].expr.rng)
            return
        applies = literal_value(at["applies_to"].expr) if "applies_to" in at else None
        if applies is not None and applies not in S.RESOURCE_KINDS + ("plan",):
            d.error("Invalid applies_to", f'"{applies}" is not a resource kind. Use one of: '
                    + ", ".join(S.RESOURCE_KINDS) + ', or "plan".' + did_you_mean(str(applies), S.RESOURCE_KINDS),
                    at["applies_to"].expr.rng)
            return
        if "condition" not in at:
            return
        cfg.policies[name] = PolicyDecl(name, b.rng, str(enf), applies, at["condition"].expr,
                                        str(literal_value(at["message"].expr) or "") if "message" in at else "",
                                        str(literal_value(at["description"].expr) or "") if "description" in at else "")

    @staticmethod
    def b_resource(cfg: Config, b: A.Block, d: Diagnostics) -> None:
        kind, name = b.type, b.labels[0]
        addr = f"{kind}.{name}"
        if addr in cfg.resources:
            _dup(kind, name, cfg.resources[addr].rng, b.rng, d)
            return
        spec = S.KIND_SPECS[kind]
        check_body(b.body, spec, d, f'{kind} "{name}"', extra_ok=S.META_ARGS, header=b.rng)
        at = b.body.attributes
        pkey, pname = f"provider.{S.DEFAULT_PROVIDER[kind]}", S.DEFAULT_PROVIDER[kind]
        if "provider" in at:
            t = A.traversal_of(at["provider"].expr)
            if t is None or t[0][0] != "provider" or len(t[0]) not in (2, 3):
                d.error("Invalid provider reference", "Write `provider = provider.NAME` "
                        "(or provider.NAME.ALIAS for an aliased provider).", at["provider"].expr.rng)
            else:
                pkey, pname = ".".join(t[0]), t[0][1]
        r = ResourceDecl(kind, name, b.body, b.rng, pkey, pname)
        if "count" in at and "for_each" in at:
            d.error('Invalid combination of "count" and "for_each"',
                    'A resource may use "count" or "for_each", not both. Remove one.', at["for_each"].name_rng)
        r.count = at["count"].expr if "count" in at else None
        r.for_each = at["for_each"].expr if "for_each" in at else None
        if r.for_each is not None and isinstance(r.for_each, A.Literal):
            d.error('Invalid for_each argument', 'The "for_each" value must be a map or a set of strings, '
                    f"not {_lit_type(r.for_each.value)}. Use toset([...]) or a map.", r.for_each.rng)
        if r.count is not None and isinstance(r.count, A.Literal) and not (
                isinstance(r.count.value, int) and not isinstance(r.count.value, bool) and r.count.value >= 0):
            d.error('Invalid count argument', 'The "count" value must be a whole number >= 0.', r.count.rng)
        for e in _list_items(at.get("depends_on")):
            addr_dep = _dep_address(e, d)
            if addr_dep:
                r.depends_on.append((addr_dep, e.rng))
        for lb in b.body.blocks_of("lifecycle"):
            check_body(lb.body, S.LIFECYCLE, d, "a lifecycle block", header=lb.rng)
            la = lb.body.attributes
            r.lifecycle = Lifecycle(
                prevent_destroy=literal_value(la["prevent_destroy"].expr) is True if "prevent_destroy" in la else False,
                create_before_destroy=literal_value(la["create_before_destroy"].expr) is True
                if "create_before_destroy" in la else False,
                ignore_changes=_ignore_list(la.get("ignore_changes"), d))
        cfg.resources[addr] = r


def _list_items(a: A.Attribute | None) -> list[A.Expr]:
    if a is None:
        return []
    if isinstance(a.expr, A.TupleExpr):
        return a.expr.items
    return [a.expr]


def _dep_address(e: A.Expr, d: Diagnostics) -> str | None:
    t = A.traversal_of(e)
    if t is None or len(t[0]) < 2 or t[0][0] not in S.RESOURCE_KINDS:
        d.error("Invalid depends_on reference", "Each depends_on item must be a resource reference such as "
                "`eval_suite.golden`.", e.rng)
        return None
    return f"{t[0][0]}.{t[0][1]}"


def _ignore_list(a: A.Attribute | None, d: Diagnostics) -> list[str]:
    if a is None:
        return []
    if isinstance(a.expr, A.Variable) and a.expr.name == "all":
        return ["all"]
    if isinstance(a.expr, A.Literal) and a.expr.value == "all":
        return ["all"]
    out: list[str] = []
    for e in _list_items(a):
        t = A.traversal_of(e)
        if t is not None:
            out.append(".".join(t[0]))
        elif isinstance(e, A.Literal) and isinstance(e.value, str):
            out.append(e.value)
        else:
            d.error("Invalid ignore_changes", "List attribute names, e.g. `ignore_changes = [metadata]`.", e.rng)
    return out


# --- references -----------------------------------------------------------------

_ALWAYS = {"path", "terraform", "mlform"}


def _check_references(cfg: Config, d: Diagnostics) -> None:
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
                    spec = S.KIND_SPECS[root]
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


def load_config(directory: Path, use_cache: bool = True) -> tuple[Config | None, Diagnostics]:
    """Load and decode the project in ``directory``."""
    from mlform.engine.load.project import load_project

    proj, diags = load_project(directory, use_cache=use_cache)
    if diags.has_errors:
        return None, diags
    cfg, d2 = decode(proj)
    diags.extend(d2)
    return cfg, diags
