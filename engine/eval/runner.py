"""Running a suite: dataset -> predictor -> metrics and assertions -> verdict.

:func:`run_suite` never raises for a user-facing problem: an invalid spec or
dataset, or a predictor that fails, gives a :class:`SuiteResult` with status
``error`` and the diagnostics. :func:`cache_key` identifies everything a
result depends on, so the engine can skip a suite whose inputs did not change
(:func:`is_fresh`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..diagnostics import Diagnostic, Diagnostics, DiagnosticsError, Pos, SourceRange, did_you_mean, error
from .assertions import AssertionContext, evaluate_assertion
from .dataset import Dataset, Record, TensorValue, load_dataset
from .embeddings import EMBEDDING_MODEL, Embedder
from .judge import Judge
from .metrics import MetricKind, Observations, evaluate_metric, predicted_class
from .predictors import Predictor, RecordOutput
from .prompt import PromptError, prompt_text
from .results import AssertionResult, Digests, MetricResult, Status, SuiteResult
from .spec import AssertionKind, SuiteSpec

#: Bumped when metric or assertion semantics change, so old results are not reused.
CACHE_VERSION = 1

#: ``progress(done, total)``, called at the start (0), every ``progress_every`` records and at the end.
ProgressCallback = Callable[[int, int], None]


def cache_key(spec: SuiteSpec, digests: Digests) -> str:
    """``sha256:<hex>`` over what a result depends on.

    The target, dataset, prompt and judge digests; metric names and
    thresholds; assertions; labels, output, batch size; the prompt template
    and parameters; the embedding model. Not the suite's name or the
    dataset's path (its digest stands for its content).
    """
    doc = {
        "version": CACHE_VERSION,
        "digests": digests.to_json(),
        "metrics": [[m.name.strip(), m.threshold.min, m.threshold.max] for m in spec.metrics],
        "assertions": [{
            "kind": a.kind.value, "value": a.value, "schema": a.schema, "threshold": a.effective_threshold(),
            "rubric": a.rubric, "verdict": a.verdict.value, "ignore_case": a.ignore_case,
            "min_pass_rate": a.min_pass_rate,
        } for a in spec.assertions],
        "labels": spec.labels,
        "output": spec.output,
        "batch_size": spec.batch_size,
        "prompt": None if spec.prompt is None else {
            "template": spec.prompt.template, "variables": spec.prompt.variables,
            "model_params": dict(spec.prompt.model_params)},
        "embedding_model": EMBEDDING_MODEL if any(a.kind is AssertionKind.SIMILARITY for a in spec.assertions)
        else None,
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def is_fresh(result: SuiteResult | None, spec: SuiteSpec, digests: Digests) -> bool:
    """Whether ``result`` (e.g. from state) still holds for ``spec`` on ``digests``."""
    return result is not None and result.status is not Status.ERROR and result.cache_key == cache_key(spec, digests)


def _shape_key(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.shape
    if isinstance(value, Mapping) and all(isinstance(v, np.ndarray) for v in value.values()):
        return tuple(sorted((k, v.shape) for k, v in value.items()))
    return None


def batches(records: Sequence[Record], size: int) -> Iterator[list[Record]]:
    """Consecutive records, at most ``size`` per batch, one input shape per batch."""
    batch: list[Record] = []
    for r in records:
        if batch and (len(batch) >= size or _shape_key(r.input) != _shape_key(batch[0].input)):
            yield batch
            batch = []
        batch.append(r)
    if batch:
        yield batch


def _predict_all(spec: SuiteSpec, predictor: Predictor, ds: Dataset, progress: ProgressCallback | None,
                 every: int) -> tuple[list[RecordOutput], list[float]]:
    outputs: list[RecordOutput] = []
    latencies: list[float] = []
    total, done = len(ds.records), 0
    if progress is not None:
        progress(0, total)  # the start: a suite of slow predictions shows it began before its first batch ends
    for batch in batches(ds.records, spec.batch_size):
        pred = predictor.predict([r.input for r in batch])
        if len(pred.outputs) != len(batch) or len(pred.latencies_ms) != len(batch):
            raise DiagnosticsError(error("The predictor returned the wrong number of outputs",
                                         f"{len(pred.outputs)} outputs and {len(pred.latencies_ms)} latencies "
                                         f"for {len(batch)} records."))
        outputs += pred.outputs
        latencies += pred.latencies_ms
        before, done = done, done + len(batch)
        if progress is not None and (done // every > before // every or done == total):
            progress(done, total)
    return outputs, latencies


def _at(ds: Dataset, r: Record) -> SourceRange:
    return SourceRange(ds.path, Pos(r.line, 1), Pos(r.line, 1))


def _tensor_output(out: RecordOutput, name: str | None) -> TensorValue:
    if isinstance(out, str):
        raise ValueError("the target generated text; these metrics need numeric outputs")
    if name is None:
        return next(iter(out.values()))
    if name not in out:
        raise ValueError(f'the model has no output "{name}" (it has {", ".join(out)}).{did_you_mean(name, out)}')
    return out[name]


def _text_output(out: RecordOutput, name: str | None) -> str:
    if isinstance(out, str):
        return out
    flat = np.asarray(_tensor_output(out, name)).reshape(-1)
    if flat.size == 1 and isinstance(flat[0], (str, bytes)):
        return flat[0].decode() if isinstance(flat[0], bytes) else flat[0]
    raise ValueError("the target returned numbers, but assertions check generated text")


def _observe(spec: SuiteSpec, ds: Dataset, outputs: list[RecordOutput], latencies: list[float],
             diags: Diagnostics) -> Observations:
    kinds = {n.kind for n in spec.metric_names()}
    ct: list[int] = []
    cp: list[int] = []
    nt: list[Any] = []
    np_: list[Any] = []
    for r, out in zip(ds.records, outputs):
        try:
            if MetricKind.CLASSIFICATION in kinds:
                assert r.expected_class is not None
                ct.append(r.expected_class)
                cp.append(predicted_class(_tensor_output(out, spec.output)))
            if MetricKind.REGRESSION in kinds:
                assert r.expected_number is not None
                pred = np.asarray(_tensor_output(out, spec.output), dtype=np.float64).reshape(-1)
                true = r.expected_number.reshape(-1)
                if pred.size != true.size:
                    raise ValueError(f"the model output has {pred.size} values but expected has {true.size}")
                nt.append(true)
                np_.append(pred)
        except (ValueError, TypeError) as e:
            diags.error("Cannot score a model output", f"Record on line {r.line}: {e}.", _at(ds, r))
    return Observations(np.asarray(ct, dtype=np.int64), np.asarray(cp, dtype=np.int64),
                        np.asarray(nt, dtype=np.float64), np.asarray(np_, dtype=np.float64),
                        tuple(latencies), ())


def run_suite(spec: SuiteSpec, predictor: Predictor, *, digests: Digests, judge: Judge | None = None,
              embedder: Embedder | None = None, progress: ProgressCallback | None = None,
              progress_every: int = 10) -> SuiteResult:
    """Run ``spec`` through ``predictor`` and compare with its thresholds.

    ``digests`` names what is evaluated (``digests.dataset`` must be
    :func:`~.dataset.dataset_digest` of ``spec.dataset``; a mismatch means
    the file changed and is an error). ``judge`` answers ``llm_judge``
    assertions; ``embedder`` replaces the offline MiniLM for ``similarity``.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    t0 = time.perf_counter()
    key = cache_key(spec, digests)

    def result(status: Status, metrics: Sequence[MetricResult] = (), assertions: Sequence[AssertionResult] = (),
               records: int = 0, diags: Sequence[Diagnostic] = ()) -> SuiteResult:
        marked = tuple(dataclasses.replace(d, address=d.address or spec.name, range=d.range or spec.range)
                       for d in diags)
        return SuiteResult(spec.name, status, tuple(metrics), tuple(assertions), digests, key, records,
                           time.perf_counter() - t0, started, marked)

    diags = spec.validate()
    if diags.has_errors:
        return result(Status.ERROR, diags=list(diags))
    try:
        ds = load_dataset(spec.dataset, spec.dataset_rules())
        if ds.digest != digests.dataset:
            raise DiagnosticsError(error("The dataset changed while mlform was using it",
                                         f"{spec.dataset} has digest {ds.digest}, not {digests.dataset}. Run again."))
        outputs, latencies = _predict_all(spec, predictor, ds, progress, max(1, progress_every))
        obs = _observe(spec, ds, outputs, latencies, diags)
        assertion_results, flags = _assert(spec, ds, outputs, diags, AssertionContext(judge, embedder))
    except DiagnosticsError as e:
        return result(Status.ERROR, diags=list(e.diagnostics))
    if diags.has_errors:
        return result(Status.ERROR, records=len(ds.records), diags=list(diags))
    obs = dataclasses.replace(obs, record_passed=tuple(flags))
    metric_results = []
    for m, name in zip(spec.metrics, spec.metric_names()):
        value = evaluate_metric(name, obs, spec.labels)
        metric_results.append(MetricResult(str(name), value, m.threshold.min, m.threshold.max,
                                           m.threshold.check(value)))
    ok = all(m.passed for m in metric_results) and all(a.passed for a in assertion_results)
    return result(Status.PASSED if ok else Status.FAILED, metric_results, assertion_results, len(ds.records),
                  list(diags))


def _assert(spec: SuiteSpec, ds: Dataset, outputs: list[RecordOutput], diags: Diagnostics,
            ctx: AssertionContext) -> tuple[list[AssertionResult], list[bool]]:
    """Assertion results and, per record, whether it passed every assertion."""
    if not spec.assertions:
        return [], []
    texts: list[str] = []
    inputs: list[str] = []
    for r, out in zip(ds.records, outputs):
        try:
            texts.append(_text_output(out, spec.output))
            value = r.input
            # A text suite's dataset holds strings or prompt variables (dataset rules).
            inputs.append(prompt_text(spec.prompt, value))  # type: ignore[arg-type]
        except (ValueError, PromptError) as e:
            diags.error("Cannot check a generated output", f"Record on line {r.line}: {e}.", _at(ds, r))
    if diags.has_errors:
        return [], []
    results = []
    every = [True] * len(ds.records)
    for a in spec.assertions:
        res, flags = evaluate_assertion(a, texts, ds.records, inputs, ctx)
        results.append(res)
        every = [x and y for x, y in zip(every, flags)]
    return results, every
