"""The language schema: which blocks exist and what they accept (docs/language.md).

Types are small strings: ``string``, ``number``, ``bool``, ``any``,
``list(T)``, ``map(T)``, and ``ref(kind|kind)`` for an attribute that must be a
direct reference to another block (``model = model.sentiment``).

``KIND_SPECS`` are the common schemas, what every platform shares; a provider
declares what its resources accept beyond them, and what its provider block
takes, in ``get_schema`` with these same specs (engine/config/provider_schema.py
merges them; docs/providers.md, "Provider schemas").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlform.engine.rollout.strategy import STRATEGIES


@dataclass(frozen=True)
class AttrSpec:
    type: str = "any"
    required: bool = False
    computed: bool = False  # set by the provider; a user may not set it
    sensitive: bool = False
    force_new: bool = False  # a change replaces the resource
    description: str = ""
    # the values a string (or each string of a list) may take; validate and plan refuse others
    enum: tuple[str, ...] = ()


@dataclass(frozen=True)
class NestedSpec:
    """A nested block. ``labels``: how many labels it takes.

    Decoded value: a dict when single (``max_items == 1`` and no labels),
    otherwise a list of dicts; a labelled block's label is stored under
    ``label_key``.
    """

    block: "BlockSpec"
    labels: int = 0
    max_items: int | None = 1
    required: bool = False
    label_key: str = "name"


@dataclass(frozen=True)
class BlockSpec:
    attrs: dict[str, AttrSpec] = field(default_factory=dict)
    blocks: dict[str, NestedSpec] = field(default_factory=dict)
    any_attrs: bool = False  # accept any attribute (provider blocks, locals)


S, N, B = AttrSpec("string"), AttrSpec("number"), AttrSpec("bool")

RESOURCE_KINDS = ("model", "prompt", "eval_suite", "endpoint")
META_ARGS = ("count", "for_each", "depends_on", "provider", "lifecycle")

LIFECYCLE = BlockSpec(attrs={
    "prevent_destroy": B,
    "create_before_destroy": B,
    "ignore_changes": AttrSpec("list(any)"),
})

MODEL = BlockSpec(attrs={
    "source": AttrSpec("string", required=True,
                       description="local path, s3://, gs://, or a file another resource produces"),
    "format": AttrSpec("string"),
    "version": S,
    "metadata": AttrSpec("map(any)"),
    "digest": AttrSpec("string", computed=True),
    "size_bytes": AttrSpec("number", computed=True),
    "path": AttrSpec("string", computed=True),
    "inputs": AttrSpec("list(any)", computed=True),
    "outputs": AttrSpec("list(any)", computed=True),
})

PROMPT = BlockSpec(attrs={
    "template": AttrSpec("string", required=True),
    "variables": AttrSpec("list(string)"),
    "model_params": AttrSpec("map(any)"),
    "description": S,
    "depends_on_value": AttrSpec("any"),
    "version": AttrSpec("string", computed=True),
    "digest": AttrSpec("string", computed=True),
    "versions": AttrSpec("list(any)", computed=True),
})

METRIC = BlockSpec(attrs={"min": N, "max": N})
ASSERTION = BlockSpec(attrs={
    "value": AttrSpec("any"), "pattern": S, "schema": AttrSpec("any"), "reference": S,
    "threshold": N, "min_pass_rate": N, "rubric": S, "judge": AttrSpec("ref(endpoint)"),
    "field": S, "min_score": N, "verdict": S, "ignore_case": B, "name": S,
})

EVAL_SUITE = BlockSpec(
    attrs={
        "target": AttrSpec("ref(model|endpoint|prompt)", required=True),
        "endpoint": AttrSpec("ref(endpoint)"),
        "judge": AttrSpec("ref(endpoint)"),
        "dataset": AttrSpec("string", required=True),
        "labels": AttrSpec("list(any)"),
        "input_name": S,
        "max_records": N,
        "results": AttrSpec("map(any)", computed=True),
        "passed": AttrSpec("bool", computed=True),
        "cache_key": AttrSpec("string", computed=True),
        "dataset_digest": AttrSpec("string", computed=True),
        "target_digest": AttrSpec("string", computed=True),
    },
    blocks={
        "metric": NestedSpec(METRIC, labels=1, max_items=None),
        "assert": NestedSpec(ASSERTION, labels=1, max_items=None, label_key="kind"),
    },
)

CONSTRAINTS = BlockSpec(attrs={
    "p99_latency_ms": N, "min_throughput_rps": N, "max_cost_per_million": N,
    "max_cost_per_hour": N, "accelerators": AttrSpec("list(string)"),
})
AUTOSCALING = BlockSpec(attrs={"min_replicas": N, "max_replicas": N, "target_rps_per_replica": N})
ROLLBACK_WHEN = BlockSpec(attrs={"error_rate": N, "p99_latency_ms": N, "min_requests": N})
ROLLOUT = BlockSpec(
    attrs={
        "strategy": AttrSpec("string", enum=STRATEGIES), "steps": AttrSpec("list(number)"), "bake_seconds": N,
        "gates": AttrSpec("list(ref(eval_suite))"),
    },
    blocks={"rollback_when": NestedSpec(ROLLBACK_WHEN)},
)

ENDPOINT = BlockSpec(
    attrs={
        "model": AttrSpec("ref(model)", required=True),
        "prompt": AttrSpec("ref(prompt)"),
        "instance_type": AttrSpec("string"),
        "replicas": N,
        "batch_size": N,
        "url": AttrSpec("string", computed=True),
        "estimated_p99_ms": AttrSpec("number", computed=True),
        "estimated_cost_per_hour": AttrSpec("number", computed=True),
        "estimated_cost_per_million": AttrSpec("number", computed=True),
        "active_model_digest": AttrSpec("string", computed=True),
        "traffic": AttrSpec("map(any)", computed=True),
        "device": AttrSpec("string", computed=True),
        "chosen": AttrSpec("map(any)", computed=True),
    },
    blocks={
        "constraints": NestedSpec(CONSTRAINTS),
        "autoscaling": NestedSpec(AUTOSCALING),
        "rollout": NestedSpec(ROLLOUT),
    },
)

KIND_SPECS: dict[str, BlockSpec] = {
    "model": MODEL, "prompt": PROMPT, "eval_suite": EVAL_SUITE, "endpoint": ENDPOINT,
}

# Which provider serves a kind when the block names none.
DEFAULT_PROVIDER = {"model": "builtin", "prompt": "builtin", "eval_suite": "builtin", "endpoint": "local"}

VARIABLE = BlockSpec(
    attrs={"type": AttrSpec("any"), "default": AttrSpec("any"), "description": S,
           "sensitive": B, "nullable": B},
    blocks={"validation": NestedSpec(BlockSpec(attrs={
        "condition": AttrSpec("bool", required=True), "error_message": AttrSpec("string", required=True)}),
        max_items=None)},
)
OUTPUT = BlockSpec(attrs={"value": AttrSpec("any", required=True), "description": S, "sensitive": B,
                          "depends_on": AttrSpec("list(any)")})
POLICY = BlockSpec(attrs={
    "enforcement": S, "applies_to": S, "condition": AttrSpec("bool", required=True),
    "message": S, "description": S,
})
BACKEND = BlockSpec(any_attrs=True)
# policy_paths: folders (or files) of shared policy sets, relative to the project (docs/policies.md)
MLFORM = BlockSpec(attrs={"required_version": S, "policy_paths": AttrSpec("list(string)")},
                   blocks={"backend": NestedSpec(BACKEND, labels=1)})

TOP_LEVEL = ("mlform", "provider", "variable", "locals", "output", "policy") + RESOURCE_KINDS
TOP_LABELS = {"mlform": 0, "provider": 1, "variable": 1, "locals": 0, "output": 1, "policy": 1,
              **{k: 1 for k in RESOURCE_KINDS}}
