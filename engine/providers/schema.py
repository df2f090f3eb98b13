"""What a provider declares about itself (``get_schema``), for decoding and for editors.

A provider says which resource kinds it serves, which attributes its
``provider "NAME" { ... }`` block takes, and, per kind, the attributes and
nested blocks it accepts beyond the common language schema of that kind
(:mod:`mlform.engine.config.schema`). They are written with the same
:class:`AttrSpec` / :class:`BlockSpec` / :class:`NestedSpec` as the common
schema, so the engine checks them the same way: unknown attribute (with "did
you mean"), wrong literal type, missing required, a computed attribute set by
hand, all at the user's file:line:col; ``sensitive`` values are masked in
plans and state; a change to a ``force_new`` attribute replaces the resource::

    def get_schema(self) -> GetSchemaResponse:
        return GetSchemaResponse(
            kinds=["endpoint"],
            provider=BlockSpec(attrs={"region": AttrSpec("string", required=True)}),
            kind_schemas={"endpoint": BlockSpec(attrs={
                "image": AttrSpec("string", required=True, force_new=True,
                                  description="the serving container image"),
                "api_key": AttrSpec("string", sensitive=True),
            })},
        )

An attribute a provider declares under a name the common schema already has
replaces the common one for that provider's resources (to make
``instance_type`` required, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlform.engine.config.schema import AttrSpec, BlockSpec, NestedSpec
from mlform.engine.diagnostics import Diagnostics


@dataclass
class GetSchemaResponse:
    """``kinds`` served; ``provider``: the provider block's schema (``alias`` is
    always allowed); ``kind_schemas``: per kind, what it accepts beyond the common schema."""

    kinds: list[str]
    provider: BlockSpec = field(default_factory=BlockSpec)
    kind_schemas: dict[str, BlockSpec] = field(default_factory=dict)
    diagnostics: Diagnostics = field(default_factory=Diagnostics)


__all__ = ["AttrSpec", "BlockSpec", "GetSchemaResponse", "NestedSpec"]
