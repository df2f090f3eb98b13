"""Raw files -> :class:`Config`, with every schema mistake as a diagnostic.

Checks made here (no provider calls): block types and labels, duplicate
declarations, unknown or missing attributes and nested blocks (with "did you
mean"), attributes only a provider may set, literal value types, meta-
arguments, and that every reference names something declared.
"""

from __future__ import annotations

from pathlib import Path

from mlform.engine.config import schema as S
from mlform.engine.config.bodycheck import check_body, lit_type
from mlform.engine.config.model import (
    BackendDecl, Config, Lifecycle, OutputDecl, PolicyDecl, ProviderDecl, ResourceDecl, VariableDecl,
    literal_value,
)
from mlform.engine.config.provider_schema import check_providers, resource_spec
from mlform.engine.config.references import check_references
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
    check_references(cfg, d)
    check_providers(cfg, d)
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
        at = b.body.attributes
        pkey, pname = f"provider.{S.DEFAULT_PROVIDER[kind]}", S.DEFAULT_PROVIDER[kind]
        if "provider" in at:
            t = A.traversal_of(at["provider"].expr)
            if t is None or t[0][0] != "provider" or len(t[0]) not in (2, 3):
                d.error("Invalid provider reference", "Write `provider = provider.NAME` "
                        "(or provider.NAME.ALIAS for an aliased provider).", at["provider"].expr.rng)
            else:
                pkey, pname = ".".join(t[0]), t[0][1]
        spec = resource_spec(kind, pname)  # None: no such provider (check_providers says so)
        check_body(b.body, spec or S.KIND_SPECS[kind], d, f'{kind} "{name}"', extra_ok=S.META_ARGS, header=b.rng,
                   allow_unknown=spec is None)
        r = ResourceDecl(kind, name, b.body, b.rng, pkey, pname, schema=spec)
        if "count" in at and "for_each" in at:
            d.error('Invalid combination of "count" and "for_each"',
                    'A resource may use "count" or "for_each", not both. Remove one.', at["for_each"].name_rng)
        r.count = at["count"].expr if "count" in at else None
        r.for_each = at["for_each"].expr if "for_each" in at else None
        if r.for_each is not None and isinstance(r.for_each, A.Literal):
            d.error('Invalid for_each argument', 'The "for_each" value must be a map or a set of strings, '
                    f"not {lit_type(r.for_each.value)}. Use toset([...]) or a map.", r.for_each.rng)
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


def load_config(directory: Path, use_cache: bool = True) -> tuple[Config | None, Diagnostics]:
    """Load and decode the project in ``directory``."""
    from mlform.engine.load.project import load_project

    proj, diags = load_project(directory, use_cache=use_cache)
    if diags.has_errors:
        return None, diags
    cfg, d2 = decode(proj)
    diags.extend(d2)
    return cfg, diags
