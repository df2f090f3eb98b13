"""Decoded configuration: what the user declared, checked against the schema.

Attribute values stay expressions here; they are evaluated per instance in
the plan phase, once references can be resolved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.config.schema import KIND_SPECS, BlockSpec
from mlform.engine.diagnostics import SourceRange
from mlform.engine.load import ast as A


@dataclass
class VariableDecl:
    name: str
    rng: SourceRange
    type: str = "any"
    type_spec: tuple[Any, ...] = ("any",)  # the full constraint (engine/config/vartypes.py)
    default: A.Expr | None = None
    description: str = ""
    sensitive: bool = False
    nullable: bool = True
    validations: list[tuple[A.Expr, A.Expr, SourceRange]] = field(default_factory=list)


@dataclass
class OutputDecl:
    name: str
    value: A.Expr
    rng: SourceRange
    description: str = ""
    sensitive: bool = False
    depends_on: list[str] = field(default_factory=list)


@dataclass
class ProviderDecl:
    name: str
    alias: str | None
    body: A.Body
    rng: SourceRange

    @property
    def key(self) -> str:
        return f"provider.{self.name}" + (f".{self.alias}" if self.alias else "")


@dataclass
class Lifecycle:
    prevent_destroy: bool = False
    create_before_destroy: bool = False
    ignore_changes: list[str] = field(default_factory=list)  # attribute names, or ["all"]


@dataclass
class ResourceDecl:
    """A resource block (``model``, ``prompt``, ``eval_suite``, ``endpoint``)."""

    kind: str
    name: str
    body: A.Body
    rng: SourceRange
    provider_key: str  # "provider.local", "provider.builtin"
    provider_name: str
    count: A.Expr | None = None
    for_each: A.Expr | None = None
    depends_on: list[tuple[str, SourceRange]] = field(default_factory=list)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    schema: BlockSpec | None = None  # its kind's common schema merged with its provider's (decode sets it)

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.name}"

    @property
    def spec(self) -> BlockSpec:
        """What the resource accepts: the merged schema, or the kind's common one when its provider is missing."""
        return self.schema or KIND_SPECS[self.kind]


@dataclass
class PolicyDecl:
    name: str
    rng: SourceRange
    enforcement: str
    applies_to: str | None
    condition: A.Expr
    message: str
    description: str = ""


@dataclass
class BackendDecl:
    type: str
    body: A.Body
    rng: SourceRange


@dataclass
class Config:
    """The whole decoded project."""

    directory: Path
    digest: str
    required_version: str | None = None
    backend: BackendDecl | None = None
    providers: dict[str, ProviderDecl] = field(default_factory=dict)
    variables: dict[str, VariableDecl] = field(default_factory=dict)
    locals: dict[str, A.Attribute] = field(default_factory=dict)
    outputs: dict[str, OutputDecl] = field(default_factory=dict)
    resources: dict[str, ResourceDecl] = field(default_factory=dict)
    policies: dict[str, PolicyDecl] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    # Declarations that were reported and left out ("var.x", "model.m"): references
    # to them add no error of their own.
    errored: set[str] = field(default_factory=set)

    def node_ranges(self) -> dict[str, SourceRange]:
        out: dict[str, SourceRange] = {}
        for v in self.variables.values():
            out[f"var.{v.name}"] = v.rng
        for n, a in self.locals.items():
            out[f"local.{n}"] = a.rng
        for o in self.outputs.values():
            out[f"output.{o.name}"] = o.rng
        for r in self.resources.values():
            out[r.address] = r.rng
        return out


def literal_value(e: A.Expr | None) -> Any:
    """The value of a literal expression, or ``None`` when not a literal."""
    if isinstance(e, A.Literal):
        return e.value
    return None
