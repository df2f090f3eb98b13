"""LLM-as-judge: the prompt sent to a judge model and the parsing of its verdict.

The judge is any callable ``str -> str`` (the engine passes one that calls a
judge endpoint; :func:`~mlform.engine.eval.v2.v2_judge` builds one for an
Open Inference Protocol server). It must end its reply with a line
``VERDICT: PASS`` / ``VERDICT: FAIL``, or ``SCORE: N`` (1-5) for score
verdicts. Anything else is a malformed verdict: the record fails and the
reason says what the judge answered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from .spec import Verdict

_VERDICT_LINE = re.compile(r"^\W*verdict\W*[:=]\s*\**\s*(pass|fail)\b", re.I | re.M)
_BARE_VERDICT = re.compile(r"^\W*(pass|fail)\W*$", re.I)
_SCORE_LINE = re.compile(r"^\W*score\W*[:=]\s*\**\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*5)?", re.I | re.M)
_BARE_SCORE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:/\s*5)?\s*\.?\s*$")


class Judge(Protocol):
    """Sends one prompt to a judge model and returns its reply."""

    def __call__(self, prompt: str) -> str: ...


@dataclass(frozen=True, slots=True)
class JudgeVerdict:
    """A parsed reply: ``passed``, the score (score verdicts) and the reason."""

    passed: bool
    score: float | None
    reason: str


def judge_prompt(rubric: str, input_text: str, output: str, expected: str | None, verdict: Verdict) -> str:
    """The prompt that asks the judge to grade ``output`` against ``rubric``."""
    parts = [
        "You are grading the output of an AI system against a rubric.",
        f"Rubric:\n{rubric}",
        f"Input:\n{input_text}",
        f"Output:\n{output}",
    ]
    if expected is not None:
        parts.append(f"Reference answer:\n{expected}")
    if verdict is Verdict.SCORE:
        parts.append("Explain briefly, then end with a line of the form \"SCORE: N\", where N is an integer "
                     "from 1 (fails the rubric) to 5 (fully meets it).")
    else:
        parts.append('Explain briefly, then end with a line that is exactly "VERDICT: PASS" or "VERDICT: FAIL".')
    return "\n\n".join(parts)


def _quote(reply: str) -> str:
    text = " ".join(reply.split())
    return repr(text if len(text) <= 80 else text[:77] + "...")


def parse_verdict(reply: str, verdict: Verdict, threshold: float) -> JudgeVerdict:
    """Read the judge's ``reply``; a malformed one fails with a reason quoting it.

    The last ``VERDICT:`` / ``SCORE:`` line wins (a judge may restate the
    format before answering); a reply that is only ``PASS`` or ``4`` is
    accepted too.
    """
    if verdict is Verdict.SCORE:
        found = _SCORE_LINE.findall(reply) or _BARE_SCORE.findall(reply)
        if not found:
            return JudgeVerdict(False, None, f"malformed judge verdict (no SCORE line): {_quote(reply)}")
        score = float(found[-1])
        if not 1.0 <= score <= 5.0:
            return JudgeVerdict(False, None, f"malformed judge verdict (score {found[-1]} is not 1-5): "
                                f"{_quote(reply)}")
        ok = score >= threshold
        return JudgeVerdict(ok, score, "" if ok else f"judge score {found[-1]} < {threshold:g}")
    words = _VERDICT_LINE.findall(reply) or _BARE_VERDICT.findall(reply.strip())
    if not words:
        return JudgeVerdict(False, None, f"malformed judge verdict (no VERDICT line): {_quote(reply)}")
    ok = words[-1].lower() == "pass"
    return JudgeVerdict(ok, None, "" if ok else "judge verdict FAIL")
