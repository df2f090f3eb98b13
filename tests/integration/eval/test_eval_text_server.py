"""The local V2 server serving a text model (BYTES in, BYTES out), evaluated over HTTP.

The model is examples/prompts/models/assistant.pt, the TorchScript stand-in for
an LLM (no LLM weights can be fetched here; see examples/prompts/build_model.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from mlform.engine.eval import (
    AssertionKind, AssertionSpec, Digests, PromptSpec, Status, SuiteSpec, V2TextGenerator, Verdict,
    dataset_digest, run_suite, v2_judge,
)
from mlform.providers.builtin import file_digest
from mlform.providers.local.process import ServerHandle, start_server, stop_server
from mlform.providers.server.config import VersionSpec
from tests.fixtures.evals import write_jsonl

pytest.importorskip("torch")
MODEL = Path(__file__).resolve().parents[3] / "examples" / "prompts" / "models" / "assistant.pt"
SCHEMA = {"type": "object", "required": ["sentiment", "confidence"],
          "properties": {"sentiment": {"enum": ["positive", "negative"]}, "confidence": {"type": "number"}}}
JSON_PROMPT = "Classify the sentiment of the review. Answer in JSON.\nReview: {{ text }}"
ROWS = [{"input": {"text": "I love it, great value and fast delivery"}, "expected": "positive"},
        {"input": {"text": "Terrible, broken on arrival, a waste of money"}, "expected": "negative"},
        {"input": {"text": "Lovely design and reliable"}, "expected": "positive"}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    h = start_server("llm", tmp_path_factory.mktemp("srv"),
                     [VersionSpec("v1", str(MODEL), "torchscript", file_digest(MODEL))], gpus="none")
    yield h
    stop_server(h)


def test_metadata_and_raw_infer_are_v2_bytes(server: ServerHandle) -> None:
    meta = httpx.get(f"{server.url}/v2/models/llm", timeout=10).json()
    assert meta["inputs"] == [{"name": "text_input", "datatype": "BYTES", "shape": [-1]}]
    assert meta["outputs"] == [{"name": "text_output", "datatype": "BYTES", "shape": [-1]}]
    body = {"inputs": [{"name": "text_input", "shape": [2], "datatype": "BYTES",
                        "data": ["Answer in one word.\nReview: great and lovely", "Review: awful, broken"]}]}
    out = httpx.post(f"{server.url}/v2/models/llm/infer", json=body, timeout=10).json()["outputs"]
    assert out[0]["name"] == "text_output" and out[0]["datatype"] == "BYTES" and out[0]["shape"] == [2]
    assert out[0]["data"][0] == "positive"
    assert "negative" in out[0]["data"][1]
    bad = httpx.post(f"{server.url}/v2/models/llm/infer", timeout=10, json={
        "inputs": [{"name": "text_input", "shape": [1], "datatype": "FP32", "data": [1.0]}]})
    assert bad.status_code == 400 and "BYTES" in bad.json()["error"]


def _suite(tmp_path: Path, template: str, *assertions: AssertionSpec, rows: list = ROWS) -> tuple:  # type: ignore[type-arg]
    ds = write_jsonl(tmp_path / "reviews.jsonl", rows)
    spec = SuiteSpec("eval_suite.contract", ds, assertions=assertions,
                     prompt=PromptSpec(template, ("text",), {"temperature": 0.0}))
    return spec, Digests("sha256:m", dataset_digest(ds), "v1")


def test_json_schema_suite_passes_then_fails_on_prompt_change(server: ServerHandle, tmp_path: Path) -> None:
    schema = AssertionSpec(AssertionKind.JSON_SCHEMA, schema=SCHEMA, min_pass_rate=0.9)
    spec, digests = _suite(tmp_path, JSON_PROMPT, schema)
    gen = V2TextGenerator(server.url, "llm", prompt=spec.prompt)
    try:
        ok = run_suite(spec, gen, digests=digests)
    finally:
        gen.close()
    assert ok.status is Status.PASSED, ok.failures()
    assert ok.assertions[0].passed_count == 3

    spec2, digests2 = _suite(tmp_path, "Tell me how this reviewer feels.\nReview: {{ text }}", schema)
    gen = V2TextGenerator(server.url, "llm", prompt=spec2.prompt)
    try:
        bad = run_suite(spec2, gen, digests=digests2)
    finally:
        gen.close()
    assert bad.status is Status.FAILED
    assert bad.assertions[0].pass_rate == 0.0
    assert "output is not JSON" in bad.assertions[0].failures[0].reason


def test_llm_judge_through_the_stand_in(server: ServerHandle, tmp_path: Path) -> None:
    rows = [dict(r) for r in ROWS]
    rows[2]["expected"] = "negative"  # a wrong reference: the judge must fail that record
    for verdict in (Verdict.PASS_FAIL, Verdict.SCORE):
        judge_spec = AssertionSpec(AssertionKind.LLM_JUDGE, rubric="The output names the review's sentiment.",
                                   verdict=verdict, min_pass_rate=0.6)
        spec, digests = _suite(tmp_path, JSON_PROMPT, judge_spec, rows=rows)
        gen = V2TextGenerator(server.url, "llm", prompt=spec.prompt)
        try:
            with v2_judge(server.url, "llm") as judge:
                res = run_suite(spec, gen, digests=digests, judge=judge)
        finally:
            gen.close()
        a = res.assertions[0]
        assert (a.passed_count, a.total) == (2, 3), res.to_json()
        assert res.status is Status.PASSED
        assert [f.line for f in a.failures] == [3]
        if verdict is Verdict.SCORE:
            assert a.mean_score == pytest.approx((5 + 5 + 1) / 3)
            assert "judge score 1" in a.failures[0].reason
        else:
            assert a.failures[0].reason == "judge verdict FAIL"
    assert json.dumps(res.to_json())  # recordable in state
