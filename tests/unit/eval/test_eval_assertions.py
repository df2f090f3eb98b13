"""Assertions on generated text, the judge protocol and prompt rendering."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import numpy.typing as npt
import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.eval import (
    AssertionContext,
    AssertionKind,
    AssertionSpec,
    PromptError,
    PromptSpec,
    Record,
    Verdict,
    evaluate_assertion,
    judge_prompt,
    parse_verdict,
    render_prompt,
)
from mlform.engine.eval.prompt import bind_variables, prompt_text


def recs(*expected: object) -> list[Record]:
    return [Record(i + 1, "in", e) for i, e in enumerate(expected)]


def run(a: AssertionSpec, outputs: Sequence[str], expected: Sequence[object] | None = None,
        ctx: AssertionContext = AssertionContext()) -> tuple[float, list[bool], list[str]]:
    records = recs(*(expected if expected is not None else [None] * len(outputs)))
    res, flags = evaluate_assertion(a, outputs, records, ["in"] * len(outputs), ctx)
    return res.pass_rate, flags, [f.reason for f in res.failures]


def test_equals_and_contains() -> None:
    assert run(AssertionSpec(AssertionKind.EQUALS), [" Paris\n", "paris"], ["Paris", "Paris"])[1] == [True, False]
    assert run(AssertionSpec(AssertionKind.EQUALS, ignore_case=True), ["paris"], ["Paris"])[1] == [True]
    rate, flags, reasons = run(AssertionSpec(AssertionKind.CONTAINS, value="refund"),
                               ["we will refund you", "no"])
    assert (rate, flags) == (0.5, [True, False])
    assert reasons == ["output 'no' does not contain 'refund'"]
    _, _, reasons = run(AssertionSpec(AssertionKind.EQUALS), ["x"], [None])
    assert reasons == ["no reference text: set value, or give the record an expected string"]


def test_regex() -> None:
    a = AssertionSpec(AssertionKind.REGEX, value=r"^\d{4}-\d{2}-\d{2}$")
    assert run(a, ["2024-01-31", "Jan 31"])[1] == [True, False]
    assert run(AssertionSpec(AssertionKind.REGEX, value="error", ignore_case=True), ["ERROR: x"])[1] == [True]


def test_json_valid_and_schema() -> None:
    assert run(AssertionSpec(AssertionKind.JSON_VALID), ['{"a": 1}', "{a: 1}"])[1] == [True, False]
    schema = {"type": "object", "required": ["name", "age"],
              "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}
    rate, flags, reasons = run(AssertionSpec(AssertionKind.JSON_SCHEMA, schema=schema),
                               ['{"name": "a", "age": 3}', '{"name": "a", "age": -1}', '{"name": "a"}', "nope"])
    assert flags == [True, False, False, False] and rate == 0.25
    assert reasons[0] == "schema violation at age: -1 is less than the minimum of 0"
    assert reasons[1] == "schema violation at the root: 'age' is a required property"
    assert reasons[2].startswith("output is not JSON (Expecting value at column 1)")


class FakeEmbedder:
    """Orthogonal one-hot embeddings by first word: same first word, similarity 1."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.calls += 1
        vocab = {"cat": 0, "dog": 1, "car": 2}
        out = np.zeros((len(texts), 3), dtype=np.float32)
        for i, t in enumerate(texts):
            if t.split()[0] in vocab:
                out[i, vocab[t.split()[0]]] = 1.0
        return out


def test_similarity_logic_with_a_fake_embedder() -> None:
    emb = FakeEmbedder()
    a = AssertionSpec(AssertionKind.SIMILARITY, min_pass_rate=0.5)
    records = recs("cat on mat", "dog barks", None)
    res, flags = evaluate_assertion(a, ["cat sits", "car drives", "x"], records, ["", "", ""],
                                    AssertionContext(embedder=emb))
    assert flags == [True, False, False] and emb.calls == 1
    assert [f.reason for f in res.failures] == [
        "similarity 0 < 0.8", "no reference text: set value, or give the record an expected string"]
    assert res.mean_score == pytest.approx(0.5) and not res.passed
    res, _ = evaluate_assertion(AssertionSpec(AssertionKind.SIMILARITY, value="dog", threshold=0.5),
                                ["dog run"], recs(None), [""], AssertionContext(embedder=emb))
    assert res.passed


def test_min_pass_rate() -> None:
    a = AssertionSpec(AssertionKind.CONTAINS, value="ok", min_pass_rate=0.6)
    res, _ = evaluate_assertion(a, ["ok", "ok", "no"], recs(None, None, None), [""] * 3, AssertionContext())
    assert res.passed and res.pass_rate == pytest.approx(2 / 3)
    res, _ = evaluate_assertion(a, ["ok", "no", "no"], recs(None, None, None), [""] * 3, AssertionContext())
    assert not res.passed


@pytest.mark.parametrize(("reply", "passed", "reason"), [
    ("The answer is polite.\nVERDICT: PASS", True, ""),
    ("Format: VERDICT: PASS or FAIL\n...\nVerdict: **FAIL**", False, "judge verdict FAIL"),
    ("pass", True, ""),
    ("ok\n**Verdict:** PASS", True, ""),
    ("I think it is fine", False, "malformed judge verdict (no VERDICT line): 'I think it is fine'"),
])
def test_parse_pass_fail(reply: str, passed: bool, reason: str) -> None:
    v = parse_verdict(reply, Verdict.PASS_FAIL, 0)
    assert (v.passed, v.reason) == (passed, reason)


@pytest.mark.parametrize(("reply", "passed", "score", "reason"), [
    ("Good.\nSCORE: 4", True, 4.0, ""),
    ("score = 3/5", False, 3.0, "judge score 3 < 4"),
    ("5", True, 5.0, ""),
    ("**Score:** 4/5", True, 4.0, ""),
    ("SCORE: 9", False, None, "malformed judge verdict (score 9 is not 1-5): 'SCORE: 9'"),
    ("great answer", False, None, "malformed judge verdict (no SCORE line): 'great answer'"),
])
def test_parse_score(reply: str, passed: bool, score: float | None, reason: str) -> None:
    v = parse_verdict(reply, Verdict.SCORE, 4.0)
    assert (v.passed, v.score, v.reason) == (passed, score, reason)


def test_llm_judge_through_a_callable() -> None:
    seen: list[str] = []

    def judge(prompt: str) -> str:
        seen.append(prompt)
        return "VERDICT: PASS" if "thank you" in prompt.split("Output:\n")[1] else "rude.\nVERDICT: FAIL"

    a = AssertionSpec(AssertionKind.LLM_JUDGE, rubric="The reply is polite.")
    res, flags = evaluate_assertion(a, ["thank you!", "go away"], recs("Hello", None), ["hi", "hey"],
                                    AssertionContext(judge=judge))
    assert flags == [True, False] and res.failures[0].reason == "judge verdict FAIL"
    assert "Rubric:\nThe reply is polite." in seen[0] and "Input:\nhi" in seen[0]
    assert "Reference answer:\nHello" in seen[0] and "Reference answer" not in seen[1]
    assert seen[0].endswith('"VERDICT: PASS" or "VERDICT: FAIL".')

    scored = AssertionSpec(AssertionKind.LLM_JUDGE, rubric="r", verdict=Verdict.SCORE, threshold=3)
    res, flags = evaluate_assertion(scored, ["a", "b", "c"], recs(None, None, None), ["", "", ""],
                                    AssertionContext(judge=lambda p: "SCORE: 3" if "Output:\na" in p else "meh"))
    assert flags == [True, False, False] and res.mean_score == 3.0
    assert "SCORE: N" in judge_prompt("r", "i", "o", None, Verdict.SCORE)


def test_llm_judge_without_judge_is_an_error() -> None:
    with pytest.raises(DiagnosticsError, match='Assertion "llm_judge" has no judge'):
        evaluate_assertion(AssertionSpec(AssertionKind.LLM_JUDGE, rubric="r"), ["x"], recs(None), [""],
                           AssertionContext())


def test_prompt_rendering() -> None:
    p = PromptSpec("Summarize in {{max_words}} words:\n{{ text }}", ("text", "max_words"))
    assert prompt_text(p, {"text": "long story", "max_words": 5}) == "Summarize in 5 words:\nlong story"
    assert render_prompt("{{ a }}{{a}}", {"a": "x"}) == "xx"
    assert bind_variables(PromptSpec("Q: {{ q }}"), "why?") == {"q": "why?"}
    assert bind_variables(PromptSpec("{{ a }}"), {"a": True}) == {"a": "true"}
    with pytest.raises(PromptError, match='no value for prompt variable "b"'):
        render_prompt("{{ b }}", {})
    with pytest.raises(PromptError, match="input is a string but the prompt has 2 variables"):
        prompt_text(p, "hello")
    with pytest.raises(PromptError, match='"txt" is not a variable of the prompt. Did you mean "text"'):
        bind_variables(p, {"txt": "a", "text": "b", "max_words": 1})
    with pytest.raises(PromptError, match="no prompt to render it into"):
        prompt_text(None, {"a": "b"})
