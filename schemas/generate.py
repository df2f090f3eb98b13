"""The published JSON Schema of ``mlform show --json PLANFILE`` (docs/plan-format.md).

The shape follows ``terraform show -json`` (``format_version``,
``resource_changes[].change.{actions,before,after,after_unknown,...}``,
``output_changes``, ``prior_state``, ``configuration``) so plan tooling can
read it, plus mlform's ``estimates``, ``rollouts``, ``evals`` and
``policy_results``. The pydantic models below are the description; the
committed ``schemas/plan.schema.json`` is generated from them::

    python -m mlform.schemas.generate          # rewrite plan.schema.json
    python -m mlform.schemas.generate --check  # exit 1 when it is out of date

Objects mlform defines completely forbid unknown keys, so a change to the
plan JSON that the schema does not describe fails the schema test;
resource attributes (``before``/``after``/``values``) are provider data and
stay open.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_PATH = Path(__file__).resolve().parent / "plan.schema.json"
SCHEMA_ID = "https://mlform.dev/schemas/plan.schema.json"
REVIEW_SCHEMA_PATH = SCHEMA_PATH.with_name("review.schema.json")

ChangeAction = Literal["no-op", "create", "read", "update", "delete"]
Kind = Literal["model", "prompt", "eval_suite", "endpoint"]
Attributes = dict[str, Any]
AttrPath = list[Union[str, int]]
# Terraform's before/after_sensitive and after_unknown: false, or a tree of
# the value's shape with true at the sensitive/unknown leaves.
Marks = Union[bool, dict[str, Any], list[Any]]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Change(_Closed):
    """What will happen to one resource instance."""

    actions: list[ChangeAction] = Field(
        min_length=1, max_length=2,
        description='["create"], ["update"], ["delete"], ["no-op"], ["read"]; a replacement is '
                    '["delete", "create"], or ["create", "delete"] with create_before_destroy.')
    before: Attributes | None = Field(description="Recorded attributes; null when creating. Sensitive values are null.")
    after: Attributes | None = Field(
        description="Planned attributes; null when destroying. Unknown and sensitive values are null.")
    after_unknown: Marks = Field(description="true where the value is known only after apply.")
    before_sensitive: Marks
    after_sensitive: Marks
    replace_paths: list[AttrPath] = Field(description="Attribute paths whose change forces the replacement.")


class ResourceChange(_Closed):
    """One entry of ``resource_changes``."""

    address: str = Field(description='e.g. endpoint.regional["eu"]')
    mode: Literal["managed"]
    type: Kind = Field(description="The resource kind.")
    name: str
    index: str | int | None = Field(None, description="count index or for_each key, when the resource has one.")
    provider_name: str = Field(description='The provider configuration key, e.g. "provider.local".')
    change: Change
    action_reason: Literal[
        "replace_because_tainted", "replace_by_request", "delete_because_no_resource_config",
        "delete_because_count_index", "delete_because_each_key",
    ] | None = None


class DriftChange(_Closed):
    actions: list[Literal["update", "delete"]]


class ResourceDrift(_Closed):
    """A difference the refresh found between state and the real object."""

    address: str
    change: DriftChange


class OutputChange(_Closed):
    actions: list[ChangeAction]
    before: Any = None
    after: Any = None
    after_unknown: bool
    before_sensitive: bool
    after_sensitive: bool


class Variable(_Closed):
    value: Any = Field(description="The value used for the plan; null when the variable is sensitive.")


class StateResource(_Closed):
    """A resource in ``prior_state`` or ``planned_values``."""

    address: str
    mode: Literal["managed"]
    type: Kind
    name: str
    index: str | int | None = Field(None, description="count index or for_each key, when the resource has one.")
    provider_name: str
    schema_version: int = 0
    values: Attributes | None = Field(
        description="Attributes; sensitive ones null. In planned_values an attribute known only after "
                    "apply is left out.")
    sensitive_values: Marks = Field(description="true at the path of each sensitive attribute.")


class StateModule(_Closed):
    resources: list[StateResource]


class StateValues(_Closed):
    root_module: StateModule


class PlannedOutput(_Closed):
    sensitive: bool
    value: Any = Field(None, description="Absent when sensitive or known only after apply.")


class PlannedValues(_Closed):
    """The state as it will be after apply: every resource not being destroyed, and the outputs."""

    outputs: dict[str, PlannedOutput]
    root_module: StateModule


class PriorState(_Closed):
    """The state the plan was made against; absent when there was none."""

    format_version: str
    terraform_version: str
    serial: int | None = Field(description="The state serial the plan was made against.")
    lineage: str | None
    values: StateValues


class ProviderConfig(_Closed):
    name: str
    alias: str | None = None


class Expression(_Closed):
    """One argument as written: a constant, or the references it reads (``["model.m.version",
    "model.m"]``); ``{}`` when neither can be written (a function call, a sensitive argument)."""

    constant_value: Any = None
    references: list[str] | None = None


# An argument's expression, or a nested block: a list of objects of expressions.
Expressions = dict[str, Union[Expression, list[dict[str, Any]]]]


class ConfigResource(_Closed):
    address: str
    mode: Literal["managed"]
    type: Kind
    name: str
    provider_config_key: str
    expressions: Expressions
    schema_version: int = 0
    count_expression: Expression | None = None
    for_each_expression: Expression | None = None
    depends_on: list[str]


class ConfigVariable(_Closed):
    description: str
    sensitive: bool | None = None


class ConfigOutput(_Closed):
    description: str
    sensitive: bool
    expression: Expression


class ConfigModule(_Closed):
    resources: list[ConfigResource]
    variables: dict[str, ConfigVariable]
    outputs: dict[str, ConfigOutput]


class Configuration(_Closed):
    """The configuration the plan was made from (empty when it cannot be read)."""

    provider_config: dict[str, ProviderConfig] | None = None
    root_module: ConfigModule | None = None


class CostBefore(BaseModel):
    cost_per_hour: float | None = None


class Estimate(BaseModel):
    """An endpoint's estimate: chosen hardware, latency and cost (providers may add keys)."""

    model_config = ConfigDict(extra="allow")

    instance_type: str | None = None
    replicas: int | None = None
    batch_size: int | None = None
    device: str | None = None
    p99_ms: float | None = Field(None, description="Estimated p99 latency in milliseconds.")
    cost_per_hour: float | None = Field(None, description="USD per hour.")
    cost_per_million: float | None = Field(None, description="USD per one million predictions.")
    before: CostBefore | None = Field(None, description="The same figures for the current version.")


class Rollout(_Closed):
    """How an update moves traffic to the new version."""

    strategy: Literal["all_at_once", "canary", "linear", "blue_green"]
    steps: list[float] = Field(description="Percent of traffic on the new version after each step.")
    bake_seconds: float
    gates: list[str] = Field(description="Eval suites that must pass before traffic moves.")
    rollback_when: dict[str, float] | None


class EvalRun(_Closed):
    address: str
    reason: str


class PolicyResult(_Closed):
    policy: str
    enforcement: Literal["advisory", "soft_mandatory", "hard_mandatory"]
    address: str | None = Field(description="The change it was evaluated against; null for whole-plan policies.")
    passed: bool
    message: str
    overridden: bool = Field(description="A failing soft-mandatory policy let through with --override-policy.")
    override_reason: str | None = Field(None, description="The --reason given with the override; null without one.")


class RelevantAttribute(_Closed):
    resource: str = Field(description="The address of a resource the configuration reads from.")
    attribute: AttrPath


class PlanJSON(_Closed):
    """``mlform show --json PLANFILE``."""

    format_version: str = Field(pattern=r"^1\.\d+$")
    terraform_version: str = Field(
        description="The Terraform release whose plan JSON shape this follows, with mlform's version as "
                    "build metadata (1.5.0+mlform.0.1.0).")
    mlform_version: str
    timestamp: str | None = Field(None, description="When the plan was made (UTC, RFC 3339).")
    plan_mode: Literal["normal", "destroy", "refresh-only"]
    variables: dict[str, Variable]
    planned_values: PlannedValues
    resource_changes: list[ResourceChange]
    resource_drift: list[ResourceDrift]
    output_changes: dict[str, OutputChange]
    prior_state: PriorState | None = None
    configuration: Configuration
    relevant_attributes: list[RelevantAttribute]
    estimates: dict[str, Estimate] = Field(description="Per endpoint address.")
    rollouts: dict[str, Rollout] = Field(description="Per endpoint address, for updates that roll out.")
    evals: list[EvalRun] = Field(description="Eval suites the apply will run.")
    policy_results: list[PolicyResult]
    applyable: bool
    complete: bool
    errored: bool


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of plan JSON."""
    schema = PlanJSON.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "mlform plan JSON",
    }


def render() -> str:
    return json.dumps(plan_schema(), indent=2, sort_keys=True) + "\n"


def outputs() -> dict[Path, str]:
    """Every generated schema file and its text."""
    from mlform.schemas.review import review_schema

    return {SCHEMA_PATH: render(), REVIEW_SCHEMA_PATH: json.dumps(review_schema(), indent=2, sort_keys=True) + "\n"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write schemas/*.schema.json from their pydantic descriptions.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed file is out of date")
    args = parser.parse_args(argv)
    stale = 0
    for path, text in outputs().items():
        if args.check:
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                sys.stderr.write(f"{path} is out of date; run python -m mlform.schemas.generate\n")
                stale = 1
            continue
        path.write_text(text, encoding="utf-8")
    return stale


if __name__ == "__main__":
    sys.exit(main())
