"""The JSON Schema of the data ``mlform show --markdown PLANFILE`` makes its pull-request comment
from (``mlform show --markdown --json PLANFILE`` prints it); written to
``schemas/review.schema.json`` by ``python -m mlform.schemas.generate``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REVIEW_SCHEMA_ID = "https://mlform.dev/schemas/review.schema.json"
Word = Literal["create", "update", "replace", "destroy", "read"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counts(_Closed):
    add: int
    change: int
    destroy: int


class KindRow(_Closed):
    create: int
    update: int
    replace: int
    destroy: int
    read: int


class Change(_Closed):
    address: str
    kind: str
    action: Word
    actions: list[str] = Field(description="As in plan JSON: ['delete', 'create'] for a replacement.")
    reason: str | None = Field(description="Why: tainted, requested with --replace, no longer in configuration...")
    replace_paths: list[str] = Field(description="Attributes whose change forces the replacement (dotted).")


class Endpoint(_Closed):
    address: str
    action: str
    instance_type: str | None
    replicas: int | None
    p99_ms: float | None = Field(description="Estimated p99 latency.")
    p99_limit_ms: float | None = Field(description="constraints.p99_latency_ms, when declared.")
    cost_per_hour: float | None
    cost_per_hour_before: float | None


class Threshold(_Closed):
    metric: str | None
    min: float | None
    max: float | None


class Eval(_Closed):
    address: str
    reason: str
    target: str | None
    thresholds: list[Threshold]


class Rollout(_Closed):
    address: str
    strategy: str | None
    steps: list[float] | None
    bake_seconds: float | None
    gates: list[str] | None
    rollback_when: dict[str, float] | None


class PolicyRow(_Closed):
    policy: str
    address: str | None
    enforcement: Literal["advisory", "soft_mandatory", "hard_mandatory"]
    result: Literal["pass", "fail", "warn", "overridden"]
    message: str
    override_reason: str | None


class Drift(_Closed):
    address: str
    action: str


class Review(_Closed):
    """What the pull-request comment shows."""

    format_version: Literal["1.0"]
    mode: Literal["normal", "destroy", "refresh-only"]
    status: Literal["changes", "no-changes", "refused"] = Field(
        description="refused: a mandatory policy failed and was not overridden (apply would exit 3).")
    counts: Counts
    changes_by_kind: dict[str, KindRow]
    changes: list[Change]
    cost_per_month_delta: float = Field(description="USD per month (730 hours), after minus before.")
    endpoints: list[Endpoint]
    evals: list[Eval]
    rollouts: list[Rollout]
    policy_results: list[PolicyRow]
    drift: list[Drift]
    plan_text: str = Field(description="The plan as `mlform show PLANFILE` prints it, without colour.")


def review_schema() -> dict[str, Any]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": REVIEW_SCHEMA_ID,
            **Review.model_json_schema(), "title": "mlform plan review (show --markdown)"}
