"""Which rejection still stands for a resource, read from state history (old states included)."""

from __future__ import annotations

from typing import Any

from mlform.engine.rollout.rejections import active_rejection, rejection_notes, rejections_of
from mlform.engine.state.model import HistoryRecord, ResourceState, State

MARK = {"version": "bbbbbbbbbbbb", "serving": "aaaaaaaaaaaa", "by": "eval_suite.contract",
        "reason": "json_schema: pass rate 0 (0/6), required >= 1"}


def record(when: str, changes: list[dict[str, Any]], outcome: str = "failed") -> HistoryRecord:
    return HistoryRecord(when=when, changes=changes, outcome=outcome)  # type: ignore[arg-type]


def state(*history: HistoryRecord) -> State:
    prompt = ResourceState(address="prompt.p", kind="prompt", name="p", provider="builtin",
                           attributes={"version": "aaaaaaaaaaaa"})
    return State(resources=[prompt], history=list(history))


def test_a_state_written_before_rejections_were_recorded_loads_and_shows_none() -> None:
    doc = state(record("t1", [{"address": "prompt.p", "action": "update", "ok": True, "seconds": 0.1}],
                       "succeeded")).model_dump_json()
    old = State.model_validate_json(doc)
    assert active_rejection(old, "prompt.p") is None
    assert rejection_notes(old, "prompt.p") == []
    assert rejections_of(old, "prompt.p") == []


def test_the_latest_rejection_stands_until_the_resource_changes_or_an_apply_succeeds() -> None:
    blocked = record("t2", [{"address": "prompt.p", "action": "update", "ok": False, "rejected": MARK}])
    st = state(blocked)
    assert active_rejection(st, "prompt.p") == {**MARK, "at": "t2"}
    assert rejection_notes(st, "prompt.p") == [
        "# serving aaaaaaaaaaaa; bbbbbbbbbbbb was rejected by eval_suite.contract on t2:",
        "#   json_schema: pass rate 0 (0/6), required >= 1"]
    # A later failed apply that did not touch it keeps it; one that succeeded clears it.
    assert active_rejection(state(blocked, record("t3", [{"address": "endpoint.e", "ok": False}])),
                            "prompt.p") is not None
    assert active_rejection(state(blocked, record("t3", [], "succeeded")), "prompt.p") is None
    # A later change of the prompt itself replaces it; the lineage keeps every rejection.
    st = state(blocked, record("t4", [{"address": "prompt.p", "action": "update", "ok": True}]))
    assert active_rejection(st, "prompt.p") is None
    assert rejections_of(st, "prompt.p") == [{**MARK, "at": "t2"}]


def test_a_first_version_rejected_says_nothing_serves_and_names_a_models_source() -> None:
    mark = {"version": "sha256:" + "c" * 64, "serving": None, "by": "eval_suite.golden",
            "reason": "accuracy = 0.375, required >= 0.85", "source": "models/broken.onnx"}
    st = state(record("t1", [{"address": "model.m", "action": "create", "ok": True, "rejected": mark}]))
    assert rejection_notes(st, "model.m")[0] == (
        "# nothing serves this yet; sha256:cccccccccccc (models/broken.onnx) was rejected by eval_suite.golden on t1:")
