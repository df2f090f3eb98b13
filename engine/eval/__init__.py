"""The evaluation library: datasets, metrics, assertions, predictors, runner.

Independent of HCL. The engine turns an ``eval_suite`` block into a
:class:`SuiteSpec`, picks a :class:`Predictor` for its target, and calls
:func:`run_suite`. Data flows one way::

    SuiteSpec ──validate()──> Diagnostics
        │ dataset_rules()
        v
    load_dataset(path, rules) ──> Dataset(records, digest)
        │ batches of spec.batch_size
        v
    Predictor.predict(inputs) ──> Predictions(outputs, latencies_ms)
        │
        ├─ metrics:    evaluate_metric(MetricName, Observations) vs Threshold
        └─ assertions: evaluate_assertion(AssertionSpec, texts, ...) vs min_pass_rate
        v
    SuiteResult(status, metrics, assertions, digests, cache_key) ──to_json()──> state

Public API::

    SuiteSpec(name, dataset, metrics=(), assertions=(), labels=None, output=None,
              batch_size=1, prompt=None, range=None)          .validate() -> Diagnostics
    MetricSpec(name: str, threshold: Threshold, range=None)
    Threshold(min=None, max=None)                              .check(v) -> bool
    AssertionSpec(kind: AssertionKind, value=None, schema=None, threshold=None, rubric=None,
                  verdict=Verdict.PASS_FAIL, ignore_case=False, min_pass_rate=1.0, name=None, range=None)
    PromptSpec(template, variables=None, model_params={})
    render_prompt(template, variables) -> str

    load_dataset(path, rules=DatasetRules()) -> Dataset        raises DiagnosticsError (every bad line)
    dataset_digest(path) -> "sha256:<hex>"

    parse_metric_name(text) -> MetricName                      raises MetricNameError (did-you-mean)
    accuracy / class_score / class_score_for / mae / rmse / latency_percentile

    Predictor (Protocol): predict(inputs: Sequence[InputValue]) -> Predictions
    OnnxPredictor(path) · TorchScriptPredictor(path, dtypes=None) · V2Predictor(url, model, version=None)
    V2TextGenerator(url, model, version=None, prompt=None) · v2_judge(url, model) -> V2Judge (a Judge; close() it)

    Digests(target, dataset, prompt=None, judge=None)
    run_suite(spec, predictor, *, digests, judge=None, embedder=None,
              progress=None, progress_every=10) -> SuiteResult
    cache_key(spec, digests) -> str ; is_fresh(result, spec, digests) -> bool
    SuiteResult.to_json() / SuiteResult.from_json(d) ; .passed ; .failures()
    render_table(results) -> rich.table.Table

User mistakes are diagnostics: ``SuiteSpec.validate`` returns them,
``load_dataset`` and predictors raise ``DiagnosticsError`` carrying them, and
``run_suite`` folds all of these into a result with status ``error``.
See ``docs/evals.md`` for the dataset format and metric definitions.
"""

# The package loads its modules on first use (PEP 562): `mlform plan` reads a suite's
# spec and digests, but only `apply` and `eval` run one, and the runner, predictors,
# assertions and V2 client pull in numpy, onnxruntime and httpx.
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .assertions import AssertionContext, evaluate_assertion
    from .dataset import Dataset, DatasetRules, InputValue, Record, dataset_digest, load_dataset, parse_dataset
    from .embeddings import Embedder, MiniLMEmbedder, default_embedder
    from .judge import Judge, JudgeVerdict, judge_prompt, parse_verdict
    from .metrics import (
        KNOWN_METRICS,
        Average,
        MetricKind,
        MetricName,
        MetricNameError,
        Observations,
        accuracy,
        class_score,
        class_score_for,
        evaluate_metric,
        latency_percentile,
        mae,
        parse_metric_name,
        predicted_class,
        rmse,
    )
    from .predictors import OnnxPredictor, Predictions, Predictor, PredictorError, RecordOutput, TorchScriptPredictor
    from .prompt import PromptError, PromptSpec, render_prompt
    from .results import AssertionResult, Digests, MetricResult, RecordFailure, Status, SuiteResult, format_number
    from .runner import ProgressCallback, cache_key, is_fresh, run_suite
    from .spec import AssertionKind, AssertionSpec, MetricSpec, SuiteSpec, Threshold, Verdict
    from .table import render_table
    from .v2 import V2Judge, V2Predictor, V2TextGenerator, v2_judge

# Each public name and the module that defines it (the TYPE_CHECKING imports above say
# the same for type checkers; tests/unit/eval/test_eval_lazy_exports.py keeps them agreeing).
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("AssertionContext", "evaluate_assertion"), "assertions"),
    **dict.fromkeys((
        "Dataset", "DatasetRules", "InputValue", "Record", "dataset_digest", "load_dataset", "parse_dataset"
    ), "dataset"),
    **dict.fromkeys(("Embedder", "MiniLMEmbedder", "default_embedder"), "embeddings"),
    **dict.fromkeys(("Judge", "JudgeVerdict", "judge_prompt", "parse_verdict"), "judge"),
    **dict.fromkeys((
        "KNOWN_METRICS", "Average", "MetricKind", "MetricName", "MetricNameError", "Observations",
        "accuracy", "class_score", "class_score_for", "evaluate_metric", "latency_percentile", "mae",
        "parse_metric_name", "predicted_class", "rmse"
    ), "metrics"),
    **dict.fromkeys((
        "OnnxPredictor", "Predictions", "Predictor", "PredictorError", "RecordOutput",
        "TorchScriptPredictor"
    ), "predictors"),
    **dict.fromkeys(("PromptError", "PromptSpec", "render_prompt"), "prompt"),
    **dict.fromkeys((
        "AssertionResult", "Digests", "MetricResult", "RecordFailure", "Status", "SuiteResult",
        "format_number"
    ), "results"),
    **dict.fromkeys(("ProgressCallback", "cache_key", "is_fresh", "run_suite"), "runner"),
    **dict.fromkeys((
        "AssertionKind", "AssertionSpec", "MetricSpec", "SuiteSpec", "Threshold", "Verdict"
    ), "spec"),
    **dict.fromkeys(("render_table",), "table"),
    **dict.fromkeys(("V2Judge", "V2Predictor", "V2TextGenerator", "v2_judge"), "v2"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "KNOWN_METRICS", "AssertionContext", "AssertionKind", "AssertionResult", "AssertionSpec", "Average",
    "Dataset", "DatasetRules", "Digests", "Embedder", "InputValue", "Judge", "JudgeVerdict", "MetricKind",
    "MetricName", "MetricNameError", "MetricResult", "MetricSpec", "MiniLMEmbedder", "Observations",
    "OnnxPredictor", "Predictions", "Predictor", "PredictorError", "ProgressCallback", "PromptError",
    "PromptSpec", "Record", "RecordFailure", "RecordOutput", "Status", "SuiteResult", "SuiteSpec", "Threshold",
    "TorchScriptPredictor", "V2Judge", "V2Predictor", "V2TextGenerator", "Verdict", "accuracy", "cache_key",
    "class_score", "class_score_for", "dataset_digest", "default_embedder", "evaluate_assertion",
    "evaluate_metric", "format_number", "is_fresh", "judge_prompt", "latency_percentile", "load_dataset",
    "mae", "parse_dataset", "parse_metric_name", "parse_verdict", "predicted_class", "render_prompt",
    "render_table", "rmse", "run_suite", "v2_judge",
]
