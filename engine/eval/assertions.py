"""Assertions on generated text, each scored as a pass rate over the dataset.

=========== ============================================================
kind        a record passes when
=========== ============================================================
equals      the output, trimmed, equals ``value`` (or ``expected``), trimmed
contains    the output contains ``value`` (or ``expected``)
regex       ``re.search(value, output)`` matches (anchor with ``^...$``)
json_valid  the output parses as JSON
json_schema the output parses as JSON and validates against ``schema``
similarity  cosine(embed(output), embed(reference)) >= ``threshold`` (0.8)
llm_judge   the judge answers ``VERDICT: PASS`` (or ``SCORE: N`` >= threshold)
=========== ============================================================

``ignore_case`` applies to equals, contains and regex. The assertion passes
when its pass rate is at least ``min_pass_rate``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Sequence

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import numpy as np

from ..diagnostics import DiagnosticsError, error
from .dataset import Record
from .embeddings import Embedder, default_embedder
from .judge import Judge, judge_prompt, parse_verdict
from .results import MAX_EXAMPLES, AssertionResult, RecordFailure
from .spec import AssertionKind, AssertionSpec


@dataclass(frozen=True, slots=True)
class AssertionContext:
    """What assertions may call out to: a judge, and an embedder (default: MiniLM)."""

    judge: Judge | None = None
    embedder: Embedder | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One record against one assertion."""

    passed: bool
    reason: str = ""
    score: float | None = None


def _short(text: str, n: int = 60) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= n else flat[: n - 3] + "...")


def _reference(spec: AssertionSpec, record: Record) -> str | None:
    if spec.value is not None:
        return spec.value
    return record.expected if isinstance(record.expected, str) else None


def check_text(spec: AssertionSpec, output: str, reference: str | None) -> Outcome:
    """Check ``output`` for the kinds that need no model (not similarity/llm_judge)."""
    kind = spec.kind
    if kind in (AssertionKind.EQUALS, AssertionKind.CONTAINS):
        if reference is None:
            return Outcome(False, "no reference text: set value, or give the record an expected string")
        out, ref = (output.casefold(), reference.casefold()) if spec.ignore_case else (output, reference)
        if kind is AssertionKind.EQUALS:
            ok = out.strip() == ref.strip()
            return Outcome(ok, "" if ok else f"output {_short(output)} != {_short(reference)}")
        ok = ref in out
        return Outcome(ok, "" if ok else f"output {_short(output)} does not contain {_short(reference)}")
    if kind is AssertionKind.REGEX:
        assert spec.value is not None
        ok = re.search(spec.value, output, re.IGNORECASE if spec.ignore_case else 0) is not None
        return Outcome(ok, "" if ok else f"output {_short(output)} does not match /{spec.value}/")
    if kind in (AssertionKind.JSON_VALID, AssertionKind.JSON_SCHEMA):
        try:
            doc = json.loads(output)
        except json.JSONDecodeError as e:
            return Outcome(False, f"output is not JSON ({e.msg} at column {e.colno}): {_short(output)}")
        if kind is AssertionKind.JSON_VALID:
            return Outcome(True)
        assert spec.schema is not None
        validator = jsonschema.validators.validator_for(spec.schema)(spec.schema)
        err = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if err is None:
            return Outcome(True)
        where = "/".join(map(str, err.absolute_path)) or "the root"
        return Outcome(False, f"schema violation at {where}: {err.message}")
    raise ValueError(f"{kind.value} needs a model; use evaluate_assertion")


def _similarity(spec: AssertionSpec, outputs: Sequence[str], records: Sequence[Record],
                embedder: Embedder) -> list[Outcome]:
    threshold = spec.effective_threshold()
    assert threshold is not None
    refs = [_reference(spec, r) for r in records]
    idx = [i for i, ref in enumerate(refs) if ref is not None]
    out: list[Outcome] = [Outcome(False, "no reference text: set value, or give the record an expected string")
                          for _ in records]
    if not idx:
        return out
    # One batch for outputs and references: the model is the slow part.
    texts = [outputs[i] for i in idx] + [refs[i] or "" for i in idx]
    emb = np.asarray(embedder.encode(texts), dtype=np.float64)
    a, b = emb[: len(idx)], emb[len(idx):]
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    sims = np.where(norms > 0, np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1.0), 0.0)
    for j, i in enumerate(idx):
        s = float(sims[j])
        ok = s >= threshold
        out[i] = Outcome(ok, "" if ok else f"similarity {s:.4g} < {threshold:g}", s)
    return out


def _judge(spec: AssertionSpec, outputs: Sequence[str], records: Sequence[Record], input_texts: Sequence[str],
           judge: Judge) -> list[Outcome]:
    threshold = spec.effective_threshold() or 0.0
    results = []
    for output, record, text in zip(outputs, records, input_texts):
        expected = record.expected if isinstance(record.expected, str) else (
            None if record.expected is None else json.dumps(record.expected))
        reply = judge(judge_prompt(spec.rubric or "", text, output, expected, spec.verdict))
        v = parse_verdict(reply, spec.verdict, threshold)
        results.append(Outcome(v.passed, v.reason, v.score))
    return results


def evaluate_assertion(spec: AssertionSpec, outputs: Sequence[str], records: Sequence[Record],
                       input_texts: Sequence[str], ctx: AssertionContext) -> tuple[AssertionResult, list[bool]]:
    """Run ``spec`` on every output; the result and each record's pass flag.

    ``input_texts`` is what the model was sent (the rendered prompt), shown to
    the judge. Raises ``DiagnosticsError`` when an llm_judge has no judge or
    the judge endpoint fails; a malformed verdict only fails its record.
    """
    if spec.kind is AssertionKind.SIMILARITY:
        outcomes = _similarity(spec, outputs, records, ctx.embedder or default_embedder())
    elif spec.kind is AssertionKind.LLM_JUDGE:
        if ctx.judge is None:
            raise DiagnosticsError(error('Assertion "llm_judge" has no judge',
                                         "Set judge = endpoint.NAME on the suite (an endpoint that "
                                         "generates text).", spec.range))
        outcomes = _judge(spec, outputs, records, input_texts, ctx.judge)
    else:
        outcomes = [check_text(spec, o, _reference(spec, r)) for o, r in zip(outputs, records)]
    flags = [o.passed for o in outcomes]
    passed_count = sum(flags)
    scores = [o.score for o in outcomes if o.score is not None]
    total = len(outcomes)
    rate = passed_count / total if total else 0.0
    result = AssertionResult(
        name=spec.label,
        kind=spec.kind.value,
        passed_count=passed_count,
        total=total,
        min_pass_rate=spec.min_pass_rate,
        passed=total > 0 and rate >= spec.min_pass_rate,
        mean_score=float(np.mean(scores)) if scores else None,
        failures=tuple(RecordFailure(r.line, o.reason) for r, o in zip(records, outcomes)
                       if not o.passed)[:MAX_EXAMPLES],
    )
    return result, flags
