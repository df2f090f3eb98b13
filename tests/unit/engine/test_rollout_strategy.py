"""Which traffic steps each rollout strategy takes, and what it refuses."""

from __future__ import annotations

import re

import pytest

from mlform.engine.rollout.strategy import StrategyError, resolve, steps_for


@pytest.mark.parametrize("strategy, steps, want, bake", [
    ("canary", [10, 50, 100], (10, 50, 100), True),
    ("canary", None, (10, 100), True),
    ("canary", [5, 20], (5, 20, 100), True),  # a rollout always ends at 100%
    ("canary", [1, 100], (1, 100), True),  # the bounds: above 0, at most 100
    ("canary", [100], (100,), True),
    ("linear", None, (25, 50, 75, 100), True),
    ("linear", [20, 40, 60, 80], (20, 40, 60, 80, 100), True),
    ("blue_green", [10, 50], (100,), True),  # one switch whatever steps say
    ("all_at_once", None, (100,), False),
    (None, [10, 50], (100,), False),  # no strategy named: all at once, as the plan shows it
])
def test_steps(strategy: str | None, steps: list[int] | None, want: tuple[int, ...], bake: bool) -> None:
    s = resolve(strategy, steps)
    assert s.steps == want and s.bake is bake


@pytest.mark.parametrize("strategy, steps, message", [
    ("gradual", None, 'rollout.strategy is "gradual"; use one of "all_at_once", "blue_green", "canary", "linear"'),
    ("canary", [50, 10], "must rise from above 0 to at most 100"),
    ("canary", [0, 100], "must rise from above 0 to at most 100"),
    ("canary", [10, 10, 100], "must rise from above 0 to at most 100"),  # rise, not stay
    ("canary", [10, 101], "must rise from above 0 to at most 100"),
    ("linear", [25, 50, 100], "linear steps must be equally spaced"),  # two different gaps
    ("canary", [10, 150], "must rise from above 0 to at most 100"),
    ("linear", [10, 50, 100], "linear steps must be equally spaced"),
    ("canary", ["ten"], "must be a list of percents"),
])
def test_refused(strategy: str, steps: list[object] | None, message: str) -> None:
    with pytest.raises(StrategyError, match=re.escape(message)):
        resolve(strategy, steps)


def test_steps_for_is_what_plans_and_the_controller_show() -> None:
    assert steps_for("canary", [10]) == [10, 100]
    assert steps_for("blue_green", None) == [100]
