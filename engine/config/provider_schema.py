"""Provider schemas in decoding: a resource is checked against the common schema of
its kind merged with what its provider declares for that kind (``get_schema``).

* :func:`resource_spec`: the merged schema of a kind for one provider (``None``
  when no installed provider has that name);
* :func:`check_providers`: every provider a configuration names is installed and
  serves the kinds it is used for; every ``provider "NAME" { ... }`` block is
  checked against the provider's own schema;
* :func:`validate_with_providers`: a provider's static ``validate_config`` of one
  evaluated resource (no network, no ``configure``), its diagnostics carrying
  attribute paths for the caller to place at the source.

Schemas are asked for once per provider class and process.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.bodycheck import check_body
from mlform.engine.config.model import Config, ResourceDecl
from mlform.engine.diagnostics import Diagnostics, SourceRange, attach_to_source, did_you_mean
from mlform.engine.providers.registry import available, get_provider_class
from mlform.engine.providers.schema import GetSchemaResponse

_schemas: dict[type, GetSchemaResponse] = {}
_merged: dict[tuple[type, str], S.BlockSpec] = {}


def provider_schema(name: str) -> GetSchemaResponse | None:
    """What the installed provider ``name`` declares, or ``None`` when none is installed.

    A provider whose ``get_schema`` raises (a bug) answers with an error diagnostic."""
    cls = get_provider_class(name)
    if cls is None:
        return None
    got = _schemas.get(cls)
    if got is None:
        try:
            got = cls().get_schema()
        except Exception as e:  # a provider bug: say so, decode the rest with the common schema
            got = GetSchemaResponse(kinds=list(cls.kinds))
            got.diagnostics.error(f'Provider "{name}" could not describe its schema',
                                  f"get_schema raised {type(e).__name__}: {e}. Report this to the provider's "
                                  "authors.")
        _schemas[cls] = got
    return got


def merge(common: S.BlockSpec, extra: S.BlockSpec) -> S.BlockSpec:
    """``common`` with ``extra``'s attributes and nested blocks added; a name both have is ``extra``'s."""
    if not extra.attrs and not extra.blocks:
        return common
    return replace(common, attrs={**common.attrs, **extra.attrs}, blocks={**common.blocks, **extra.blocks})


def resource_spec(kind: str, provider_name: str) -> S.BlockSpec | None:
    """The schema of ``kind`` resources served by ``provider_name``; ``None`` when it is not installed."""
    cls = get_provider_class(provider_name)
    if cls is None:
        return None
    key = (cls, kind)
    if key not in _merged:
        got = provider_schema(provider_name)
        extra = got.kind_schemas.get(kind) if got is not None else None
        _merged[key] = merge(S.KIND_SPECS[kind], extra) if extra is not None else S.KIND_SPECS[kind]
    return _merged[key]


def _not_installed(name: str, rng: SourceRange | None, users: list[str], d: Diagnostics) -> None:
    used = f" It is used by {', '.join(users)}." if users else ""
    d.error(f'Provider "{name}" is not available',
            f'No installed provider is called "{name}".{used}' + did_you_mean(name, available())
            + f" Available: {', '.join(available())}. Install the package that brings it "
            "(e.g. pip install 'mlform[aws]').", rng)


def check_providers(cfg: Config, d: Diagnostics) -> None:
    """Providers named by ``cfg`` exist and serve what they are asked to; provider blocks match their schema.

    A provider that is not installed is one error, at the first resource that
    references it (or at its block when none does); a reference to a provider
    no block declares is reported by the reference check, not here."""
    users: dict[str, list[ResourceDecl]] = {}
    for r in cfg.resources.values():
        users.setdefault(r.provider_name, []).append(r)
    reported: set[str] = set()
    for r in cfg.resources.values():
        name = r.provider_name
        ref = r.body.attributes.get("provider")
        if name in reported or (ref is not None and r.provider_key not in cfg.providers
                                and name not in S.DEFAULT_PROVIDER.values()):
            continue  # reported already, or "Reference to undeclared provider"
        got = provider_schema(name)
        rng = ref.expr.rng if ref is not None else r.rng
        if got is None:
            _not_installed(name, rng, [u.address for u in users[name]], d)
            reported.add(name)
        elif r.kind not in got.kinds:
            served = ", ".join(got.kinds) or "no resource kinds"
            d.error(f'Provider "{name}" does not serve {r.kind} resources',
                    f'{r.address} is given to provider "{name}", which serves {served}. Name a provider that '
                    f"serves {r.kind} resources, or remove the provider argument to use the default "
                    f'("{S.DEFAULT_PROVIDER[r.kind]}").', rng)
    for p in cfg.providers.values():
        got = provider_schema(p.name)
        if got is None:
            if p.name not in reported:
                _not_installed(p.name, p.rng, [], d)
                reported.add(p.name)
            continue
        for x in got.diagnostics:
            x.range = x.range or p.rng
            d.append(x)
        check_body(p.body, got.provider, d, f'provider "{p.name}"', extra_ok=("alias",), header=p.rng)


def validate_with_providers(cfg: Config, r: ResourceDecl, address: str, config: dict[str, Any]) -> Diagnostics:
    """The static checks of ``r``'s provider on one evaluated instance config (``validate_config``).

    The provider is neither configured nor asked to reach anything; values
    known only later are ``UNKNOWN`` in ``config``. Its diagnostics are placed
    at the source their attribute path names (the block when none); none when
    the provider is not installed (:func:`check_providers` says so)."""
    from mlform.engine.providers.protocol import ValidateConfigRequest

    cls = get_provider_class(r.provider_name)
    out = Diagnostics()
    if cls is None:
        return out
    resp = cls().validate_config(ValidateConfigRequest(r.kind, address, config))
    for x in resp.diagnostics:
        out.append(attach_to_source(x, cfg, address, x.attribute_path))
    return out


__all__ = ["check_providers", "merge", "provider_schema", "resource_spec", "validate_with_providers"]
