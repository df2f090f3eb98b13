"""The bake line a user reads during a rollout: figures rounded to stay short (docs/rollouts.md).

``step 2/3 50% bake 12/60s 40 req err 0.00% p99 3.1ms``: time in seconds, minutes from 1000 s;
requests as 1.2k, 12k, 1.2M; an error rate of 10% or more with one decimal; p99 with one
decimal under 100 ms, whole milliseconds under 10 s, seconds above. Each boundary is checked
on both sides.
"""

from __future__ import annotations

import pytest

from mlform.engine.rollout.controller import bake_line


@pytest.mark.parametrize("elapsed, total, shown", [
    (12, 60, "12/60s"), (999, 999, "999/999s"), (600, 1000, "10/17m"), (1800, 3600, "30/60m")])
def test_bake_time(elapsed: float, total: float, shown: str) -> None:
    assert bake_line("step 1/1 100%", elapsed, total, 0, 0.0, None) == \
        f"step 1/1 100% bake {shown} 0 req err 0.00% p99 n/a"


@pytest.mark.parametrize("requests, shown", [
    (0, "0"), (999, "999"), (1000, "1.0k"), (9_999, "10.0k"), (10_000, "10k"), (999_999, "999k"),
    (1_000_000, "1.0M"), (12_345_678, "12.3M")])
def test_request_counts(requests: int, shown: str) -> None:
    assert bake_line("w", 1, 2, requests, 0.0, None) == f"w bake 1/2s {shown} req err 0.00% p99 n/a"


@pytest.mark.parametrize("rate, shown", [(0.0, "0.00%"), (0.0999, "9.99%"), (0.1, "10.0%"), (1.0, "100.0%")])
def test_error_rates(rate: float, shown: str) -> None:
    assert bake_line("w", 1, 2, 5, rate, None) == f"w bake 1/2s 5 req err {shown} p99 n/a"


@pytest.mark.parametrize("p99, shown", [
    (None, "n/a"), (3.14, "3.1ms"), (99.94, "99.9ms"), (100.0, "100ms"), (9_999.0, "9999ms"),
    (10_000.0, "10s"), (123_456.0, "123s")])
def test_p99(p99: float | None, shown: str) -> None:
    assert bake_line("w", 1, 2, 5, 0.0, p99) == f"w bake 1/2s 5 req err 0.00% p99 {shown}"
