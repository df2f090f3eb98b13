"""The constraint solver on synthetic profiles and price tables: what it picks, why nothing fits
(the binding constraint and the closest option), ties, the accelerators filter, and the
scaling factors' basis (docs/constraints.md)."""

from __future__ import annotations

import pytest

from mlform.engine.constraints.factors import factor_for
from mlform.engine.constraints.model import Constraints, Point, Profile
from mlform.engine.constraints.solver import accelerator_ok, solve
from mlform.engine.providers.protocol import HardwareOption

AS_OF = "2026-11-01"
TABLE = [
    HardwareOption("ml.m5.large", "none", 2, 8, 0.115, AS_OF),
    HardwareOption("ml.c5.xlarge", "none", 4, 8, 0.204, AS_OF),
    HardwareOption("ml.g4dn.xlarge", "nvidia-t4", 4, 16, 0.736, AS_OF),
]


def profile(base_ms: float = 20.0, per_row_ms: float = 2.0, threads: tuple[int, ...] = (1, 2)) -> Profile:
    """A model whose batch of b rows takes base + b * per_row ms on one thread, 40% less on more."""
    pts = []
    for t in threads:
        speed = 1.0 if t == 1 else 0.6
        for b in (1, 2, 4, 8, 16, 32):
            p50 = (base_ms + b * per_row_ms) * speed
            pts.append(Point(b, t, p50, p50 * 1.3))
    return Profile(pts, overhead_ms=0.5)


def test_cheapest_option_meeting_latency_is_chosen() -> None:
    # m5 (factor 1.0): batch 1 on 2 threads is 22*0.6*1.3 + 0.5 = 17.7 ms; c5 is faster but dearer.
    sol = solve(Constraints(p99_latency_ms=30), profile(), TABLE)
    assert sol.best is not None
    assert (sol.best.hardware, sol.best.replicas, sol.best.batch_size) == ("ml.m5.large", 1, 1)
    assert sol.best.p99_ms == pytest.approx(22 * 0.6 * 1.3 + 0.5)
    assert sol.best.basis == "scaled from this CPU by the ml.m5 factor (1)"
    assert sol.runner_up is not None and sol.runner_up.hardware == "ml.c5.xlarge"


def test_tighter_latency_moves_to_faster_hardware() -> None:
    # m5's 17.7 ms misses 16 ms; c5 (0.85): 22*0.6*0.85*1.3 + 0.5 = 15.09 ms meets it.
    sol = solve(Constraints(p99_latency_ms=16), profile(), TABLE)
    assert sol.best is not None and sol.best.hardware == "ml.c5.xlarge"
    assert sol.best.cost_per_hour == pytest.approx(0.204)


def test_throughput_buys_replicas_or_batching_whichever_is_cheaper() -> None:
    # 1000 req/s: batch 1 serves 0.7*1000/(13.2+0.5) = 51 req/s per m5 replica (20 replicas, $2.30/h);
    # batch 8 serves 0.7*1000/(21.6/8+0.5) = 219 req/s per replica: 5 replicas, far cheaper.
    sol = solve(Constraints(p99_latency_ms=200, min_throughput_rps=1000), profile(), TABLE)
    assert sol.best is not None
    assert sol.best.batch_size > 1 and sol.best.cost_per_hour < 20 * 0.115 / 2
    assert sol.best.capacity_rps >= 1000
    assert sol.best.p99_ms <= 200
    assert sol.best.max_delay_ms > 0  # the time a batch takes to fill at the declared load
    assert sol.best.cost_per_million == pytest.approx(sol.best.cost_per_hour / (1000 * 3600) * 1e6)


def test_cost_is_binding_names_the_needed_option_and_the_limit() -> None:
    # 5 ms needs the T4 (0.3): 22*0.6*0.3*1.3 + 0.5 = 5.65? no: 5.65 > 5, so 6 ms.
    sol = solve(Constraints(p99_latency_ms=6, max_cost_per_hour=0.5), profile(), TABLE)
    assert sol.best is None and sol.infeasible is not None
    assert sol.infeasible.path == ("constraints", "max_cost_per_hour")
    assert sol.infeasible.summary == "Cost constraint cannot be met"
    assert "p99 6 ms needs ml.g4dn.xlarge x1 at $0.74/h; max_cost_per_hour = 0.5" in sol.infeasible.detail


def test_latency_is_binding_when_no_hardware_is_fast_enough() -> None:
    sol = solve(Constraints(p99_latency_ms=1), profile(), TABLE)
    assert sol.infeasible is not None and sol.infeasible.path == ("constraints", "p99_latency_ms")
    assert sol.infeasible.summary == "Latency constraint cannot be met"
    assert "the fastest option is ml.g4dn.xlarge x1" in sol.infeasible.detail
    assert "scaled from this CPU by the ml.g4dn factor (0.3)" in sol.infeasible.detail


def test_accelerators_filter() -> None:
    sol = solve(Constraints(p99_latency_ms=100, accelerators=["nvidia"]), profile(), TABLE)
    assert sol.best is not None and sol.best.hardware == "ml.g4dn.xlarge"
    none = solve(Constraints(accelerators=["amd-mi300"]), profile(), TABLE)
    assert none.infeasible is not None and none.infeasible.path == ("constraints", "accelerators")
    assert "['none', 'nvidia-t4']" in none.infeasible.detail
    assert accelerator_ok("nvidia-t4", ["nvidia"]) and not accelerator_ok("nvidia-t4", ["none"])


def test_throughput_binding_under_autoscaling_max() -> None:
    sol = solve(Constraints(p99_latency_ms=30, min_throughput_rps=100_000, max_replicas=2), profile(), TABLE)
    assert sol.infeasible is not None and sol.infeasible.path == ("autoscaling", "max_replicas")
    assert "Throughput constraint cannot be met" == sol.infeasible.summary
    assert "(autoscaling.max_replicas = 2)" in sol.infeasible.detail


def test_cost_per_million_binding() -> None:
    sol = solve(Constraints(min_throughput_rps=10, max_cost_per_million=0.01), profile(), TABLE)
    assert sol.infeasible is not None and sol.infeasible.path == ("constraints", "max_cost_per_million")
    assert "needs ml.m5.large x1 at $3.19/1M" in sol.infeasible.detail


def test_ties_are_broken_by_latency_then_fewer_replicas_then_name() -> None:
    free = [HardwareOption("b-box", "none", 2, 4, 0.0, AS_OF), HardwareOption("a-box", "none", 2, 4, 0.0, AS_OF)]
    sol = solve(Constraints(p99_latency_ms=50), profile(), free)
    assert sol.best is not None and sol.best.hardware == "a-box"  # same cost, p99 and replicas: by name
    assert sol.runner_up is not None and sol.runner_up.hardware == "b-box"
    # Same price: the faster one wins.
    fast = [HardwareOption("ml.m5.large", "none", 2, 8, 0.2, AS_OF), HardwareOption("ml.c5.large", "none", 2, 4, 0.2,
                                                                                      AS_OF)]
    best = solve(Constraints(p99_latency_ms=50), profile(), fast).best
    assert best is not None and best.hardware == "ml.c5.large"


def test_user_set_instance_type_and_replicas_are_checked_not_chosen() -> None:
    sol = solve(Constraints(p99_latency_ms=100, instance_type="ml.c5.xlarge", replicas=3), profile(), TABLE)
    assert sol.best is not None and (sol.best.hardware, sol.best.replicas) == ("ml.c5.xlarge", 3)
    slow = solve(Constraints(p99_latency_ms=10, instance_type="ml.m5.large"), profile(), TABLE)
    assert slow.infeasible is not None and slow.infeasible.path == ("constraints", "p99_latency_ms")
    assert 'instance_type = "ml.m5.large" is fixed' in slow.infeasible.detail
    unknown = solve(Constraints(instance_type="ml.nope"), profile(), TABLE)
    assert unknown.infeasible is not None and unknown.infeasible.path == ("instance_type",)


def test_options_use_the_point_measured_with_their_cores() -> None:
    one_core = [HardwareOption("tiny", "none", 1, 1, 0.01, AS_OF)]
    sol = solve(Constraints(p99_latency_ms=100), profile(), one_core)
    assert sol.best is not None and sol.best.threads == 1
    assert sol.best.p99_ms == pytest.approx(22 * 1.3 + 0.5)


def test_factor_basis() -> None:
    assert factor_for(HardwareOption("local", "none", 2, 4, 0, AS_OF), "cpu") == (1.0, "measured on this CPU")
    assert factor_for(HardwareOption("x", "none", 2, 4, 0, AS_OF, speed_factor=0.5), "cpu") == (
        0.5, "scaled from this CPU by the provider's factor (0.5)")
    assert factor_for(HardwareOption("g2-standard-4", "nvidia-l4", 4, 16, 0.26, AS_OF), "cpu")[0] == 0.15
    assert factor_for(HardwareOption("odd", "none", 2, 4, 0, AS_OF), "cpu")[1].startswith("assumed as fast")
