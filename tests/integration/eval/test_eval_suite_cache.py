"""When the builtin provider re-runs an eval_suite: its plan-time cache key is the eval library's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlform.engine import eval as E
from mlform.engine.providers.protocol import PlanChangeRequest
from mlform.engine.rollout.suites import spec_from_config, suite_digests
from mlform.engine.values import UNKNOWN
from mlform.providers.builtin import BuiltinProvider

MODEL = {"address": "model.m", "digest": "sha256:aaa", "path": "/x/m.onnx", "format": "onnx"}
ENDPOINT = {"address": "endpoint.llm", "url": "http://127.0.0.1:1", "active_model_digest": "sha256:bbb"}
PROMPT = {"address": "prompt.p", "version": "v1abc", "template": "Review: {{ review }}", "variables": ["review"],
          "model_params": {}}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the provider's project dir without a context
    (tmp_path / "d.jsonl").write_text(json.dumps({"input": {"review": "good"}, "expected": "positive"}) + "\n")
    return tmp_path


def plan(cfg: dict[str, Any], prior: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = BuiltinProvider().plan_change(PlanChangeRequest("eval_suite", "eval_suite.s", cfg, prior))
    assert not resp.diagnostics.has_errors, [d.summary for d in resp.diagnostics]
    assert resp.planned_state is not None
    return resp.planned_state


def prompt_suite(**kw: Any) -> dict[str, Any]:
    return {"target": PROMPT, "endpoint": ENDPOINT, "dataset": "d.jsonl",
            "assert": [{"kind": "contains", "value": "positive"},
                       {"kind": "llm_judge", "rubric": "ok", "judge": ENDPOINT}], **kw}


def test_plan_key_is_the_library_key_over_model_prompt_dataset_and_judge(project: Path) -> None:
    cfg = prompt_suite()
    planned = plan(cfg)
    digests = E.Digests("sha256:bbb", E.dataset_digest(project / "d.jsonl"), "v1abc", "sha256:bbb")
    assert suite_digests(cfg, digests.dataset) == digests
    assert planned["cache_key"] == E.cache_key(spec_from_config("eval_suite.s", cfg, project), digests)
    assert planned["target_digest"] == "sha256:bbb"
    # Each input moves the key: a new prompt version, endpoint model, judge model, dataset byte.
    keys = {planned["cache_key"],
            plan(prompt_suite(target={**PROMPT, "version": "v2def"}))["cache_key"],
            plan(prompt_suite(endpoint={**ENDPOINT, "active_model_digest": "sha256:ccc"}))["cache_key"]}
    judge2 = {**ENDPOINT, "address": "endpoint.judge", "active_model_digest": "sha256:ddd"}
    keys.add(plan({**cfg, "assert": [cfg["assert"][0], {**cfg["assert"][1], "judge": judge2}]})["cache_key"])
    (project / "d.jsonl").write_text((project / "d.jsonl").read_text() + "\n")
    keys.add(plan(cfg)["cache_key"])
    assert len(keys) == 5


def test_only_a_passing_result_with_the_same_key_is_reused(project: Path) -> None:
    cfg = {"target": MODEL, "dataset": "d.jsonl", "metric": [{"name": "accuracy", "min": 0.5}]}
    key = plan(cfg)["cache_key"]
    passed = {"cache_key": key, "passed": True, "results": {"status": "passed"}}
    assert plan(cfg, passed)["results"] == {"status": "passed"}
    failed = {**passed, "passed": False, "results": {"status": "failed"}}
    assert plan(cfg, failed)["results"] is UNKNOWN  # re-run: a failure keeps blocking until fixed
    old_formula = {**passed, "cache_key": "sha256:" + "0" * 64}  # a key recorded by an earlier mlform
    assert plan(cfg, old_formula)["results"] is UNKNOWN  # re-run once, then the new key is recorded


def test_key_is_unknown_until_the_endpoint_model_is(project: Path) -> None:
    planned = plan(prompt_suite(endpoint={**ENDPOINT, "active_model_digest": UNKNOWN}))
    assert planned["cache_key"] is UNKNOWN and planned["results"] is UNKNOWN
