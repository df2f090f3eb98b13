"""Rollout strategies (docs/rollouts.md): which traffic steps a strategy takes.

Every strategy stages the new version beside the old one and runs the gates
first; they differ in how traffic then moves:

``all_at_once``  100% in one switch; the old version is removed at once (no bake).
``blue_green``   100% in one switch; the old version stays loaded, at 0%, until
                 the bake passes, so a breach switches straight back.
``canary``       the listed ``steps`` (default 10% then 100%), a bake after each.
``linear``       equal steps: the listed ``steps`` (which must be equally
                 spaced), or 25/50/75/100 when none are given; a bake after each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STRATEGIES = ("all_at_once", "blue_green", "canary", "linear")
DEFAULT_STEPS = {"canary": [10, 100], "linear": [25, 50, 75, 100]}


class StrategyError(ValueError):
    """The rollout block asks for something no strategy does; the message says what to write."""


@dataclass(frozen=True)
class Strategy:
    """What the controller does: ``steps`` in percent, and whether to bake after each.

    The old version stays loaded (at 0% once the last step is taken) until
    the controller finishes, so a breach during any bake switches straight back.
    """

    name: str
    steps: tuple[int, ...]
    bake: bool  # observe for bake_seconds after each step (and roll back on a breach)


def resolve(strategy: Any, steps: Any) -> Strategy:
    """The strategy named in a rollout block with its ``steps``; raises :class:`StrategyError`."""
    name = str(strategy or "all_at_once")  # the plan's default too: no strategy named, one switch
    if name not in STRATEGIES:
        raise StrategyError(f'rollout.strategy is "{name}"; use one of ' +
                            ", ".join(f'"{s}"' for s in STRATEGIES) + ".")
    if name in ("all_at_once", "blue_green"):
        return Strategy(name, (100,), bake=name == "blue_green")
    try:
        s = [int(x) for x in (steps or DEFAULT_STEPS[name])]
    except (TypeError, ValueError):
        raise StrategyError(f"rollout.steps must be a list of percents like [10, 50, 100], got {steps!r}.") from None
    if any(b <= a for a, b in zip(s, s[1:])) or any(not 0 < x <= 100 for x in s):
        raise StrategyError(f"rollout.steps must rise from above 0 to at most 100, like [10, 50, 100]; got {s}.")
    if s[-1] != 100:
        s.append(100)  # a rollout always ends with all traffic on the new version
    if name == "linear" and len({b - a for a, b in zip([0, *s], s)}) > 1:
        raise StrategyError(f"linear steps must be equally spaced, like [25, 50, 75, 100]; got {s}. "
                            'Use strategy = "canary" for uneven steps.')
    return Strategy(name, tuple(s), bake=True)


def steps_for(strategy: str, steps: list[Any] | None) -> list[int]:
    """The traffic steps of a strategy (percent on the new version), for plans and the controller."""
    return list(resolve(strategy, steps).steps)
