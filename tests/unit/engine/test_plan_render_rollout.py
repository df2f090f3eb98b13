"""The plan's rollout line says what the strategy will do, and nothing that does not apply to it."""

from __future__ import annotations

from typing import Any

import pytest

from mlform.engine.plan.model import ResourceChange
from mlform.engine.plan.render import Painter, render_change

ROLLBACK = {"error_rate": 0.01, "p99_latency_ms": 80, "min_requests": 5}


def rollout_line(strategy: str, steps: list[int], **extra: Any) -> str:
    ch = ResourceChange(address="endpoint.app", kind="endpoint", name="app", index_key=None, provider="provider.local",
                        action="update", before={"replicas": 1}, after={"replicas": 1},
                        rollout={"strategy": strategy, "steps": steps, "bake_seconds": 30,
                                 "gates": ["eval_suite.contract"], "rollback_when": ROLLBACK, **extra})
    lines = [ln for ln in render_change(ch, Painter(color=False)) if "# rollout:" in ln]
    assert len(lines) == 1
    return lines[0].strip()


def test_all_at_once_shows_no_bake_and_no_rollback_condition() -> None:
    # One switch, no bake: bake_seconds and rollback_when are not used by all_at_once (docs/rollouts.md).
    assert rollout_line("all_at_once", [100]) == "# rollout: all_at_once 100%, gates: eval_suite.contract"


@pytest.mark.parametrize("strategy, steps, shown", [
    ("canary", [10, 50, 100], "canary 10% -> 50% -> 100%"),
    ("blue_green", [100], "blue_green 100%"),
])
def test_baking_strategies_show_bake_and_rollback_condition(strategy: str, steps: list[int], shown: str) -> None:
    assert rollout_line(strategy, steps) == (f"# rollout: {shown}, bake 30s, gates: eval_suite.contract, "
                                             "rollback when: error_rate > 0.01, p99_latency_ms > 80")
