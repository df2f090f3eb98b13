"""The cheapest (hardware, replicas, batch size, batching delay) that meets the constraints.

For each hardware option and measured batch size, the solver scales the measured
execution time by the option's class factor (``factors.py``), plans each replica
at ``UTILISATION`` of its rate (queueing headroom; a request costs its share of
the batch's execution plus the server's per-request overhead), takes as many
replicas as ``min_throughput_rps`` needs (up to the option's ``max_replicas``),
and sets the batching delay to the time a batch takes to fill at that load. The
estimate of p99 is delay + execution p99 (plus a queueing term that grows with
utilisation) + the server's per-request overhead. Candidates are ranked by cost
per hour, then cost per million, utilisation at most ``HEADROOM`` first, p99,
replicas, batch size and name (docs/constraints.md).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from mlform.engine.constraints.factors import factor_for
from mlform.engine.constraints.model import Candidate, Constraints, Infeasible, Point, Profile, Solution

UTILISATION = 0.7  # a replica is planned at 70% of its measured rate
MAX_DELAY_MS = 10.0  # the longest batching delay the solver chooses
MAX_REPLICAS = 64
QUEUE_P99 = 3.0
HEADROOM = 0.5


def accelerator_ok(accelerator: str, allowed: list[str] | None) -> bool:
    """``accelerators = ["none", "nvidia"]`` admits the CPU and every NVIDIA GPU (``nvidia-t4``)."""
    if not allowed:
        return True
    return any(accelerator == a or accelerator.startswith(a + "-") for a in allowed)


def _points_for(profile: Profile, vcpus: int) -> dict[int, Point]:
    """Per batch size, the point measured with the most threads the option has (at least the fewest measured)."""
    by_batch: dict[int, Point] = {}
    fewest = min((p.threads for p in profile.points), default=1)
    for p in profile.points:
        if p.threads > max(vcpus, fewest):
            continue
        cur = by_batch.get(p.batch_size)
        if cur is None or p.threads > cur.threads:
            by_batch[p.batch_size] = p
    return by_batch


def candidates(c: Constraints, profile: Profile, options: Sequence[Any]) -> list[Candidate]:
    """Every configuration worth ranking: per option and batch size, the replicas the throughput needs."""
    out: list[Candidate] = []
    rps = c.min_throughput_rps
    for opt in options:
        if c.instance_type is not None and opt.name != c.instance_type:
            continue
        f, basis = factor_for(opt, profile.device)
        for b, p in sorted(_points_for(profile, int(opt.vcpus or 1)).items()):
            if c.batch_size is not None and b != c.batch_size:
                continue
            if b > 1 and rps is None and c.batch_size is None:
                continue  # without a declared load, batching only adds delay
            exec_p50, exec_p99 = p.p50_ms * f, p.p99_ms * f
            # Each request costs its share of the batch's execution plus the server's own work.
            per_replica = UTILISATION * 1000.0 / max(exec_p50 / b + profile.overhead_ms, 1e-6)
            if c.replicas is not None:
                n = c.replicas
            else:
                n = max(1, math.ceil((rps or 0) / per_replica), c.min_replicas or 1)
                if c.max_replicas is not None:
                    n = min(n, c.max_replicas)
                n = min(n, MAX_REPLICAS, opt.max_replicas or MAX_REPLICAS)
            load = (rps or 0) / n
            delay = 0.0 if b == 1 else (MAX_DELAY_MS if load <= 0 else min(MAX_DELAY_MS, (b - 1) * 1000.0 / load))
            # Queueing: at utilisation rho a request waits about QUEUE_P99 * rho / (1 - rho) batch times
            # at p99 (a coarse M/M/1-like term; rho is the load against the replica's full rate).
            rho = min(0.95, load * (exec_p50 / b + profile.overhead_ms) / 1000.0)
            p99 = delay + exec_p99 * (1 + QUEUE_P99 * rho / (1 - rho)) + profile.overhead_ms
            cost_h = opt.price_per_hour * n
            served = rps if rps else per_replica * n
            cpm = cost_h / (served * 3600) * 1e6
            out.append(Candidate(opt.name, opt.accelerator, opt.price_per_hour, opt.as_of, n, b, p.threads,
                                 round(delay, 2), p99, per_replica * n, cost_h, cpm, basis, rho))
    return out


def violations(c: Constraints, k: Candidate) -> list[str]:
    """The constraints ``k`` breaks, named as their attributes."""
    bad = []
    if not accelerator_ok(k.accelerator, c.accelerators):
        bad.append("accelerators")
    if c.p99_latency_ms is not None and k.p99_ms > c.p99_latency_ms:
        bad.append("p99_latency_ms")
    if c.min_throughput_rps is not None and k.capacity_rps < c.min_throughput_rps:
        bad.append("min_throughput_rps")
    if c.max_cost_per_hour is not None and k.cost_per_hour > c.max_cost_per_hour + 1e-9:
        bad.append("max_cost_per_hour")
    if c.max_cost_per_million is not None and k.cost_per_million > c.max_cost_per_million + 1e-9:
        bad.append("max_cost_per_million")
    return bad


def _rank(k: Candidate) -> tuple[Any, ...]:
    """Cheapest first; at the same cost, one loaded at most HEADROOM before one loaded more (queueing
    grows fast past it, and a shared machine runs slower than its profile), then the lower p99."""
    return (round(k.cost_per_hour, 6), round(k.cost_per_million, 6), k.utilisation > HEADROOM, round(k.p99_ms, 3),
            k.replicas, k.batch_size, k.hardware)


PERFORMANCE = ("accelerators", "p99_latency_ms", "min_throughput_rps")
COST = ("max_cost_per_hour", "max_cost_per_million")


def solve(c: Constraints, profile: Profile, options: Sequence[Any]) -> Solution:
    """The best candidate and the runner-up (the best on other hardware, else the next one), or why none fits."""
    ks = candidates(c, profile, options)
    ok = sorted((k for k in ks if not violations(c, k)), key=_rank)
    if ok:
        best = ok[0]
        other = [k for k in ok[1:] if k.hardware != best.hardware]
        return Solution(best, other[0] if other else (ok[1] if len(ok) > 1 else None))
    return Solution(None, infeasible=_why(c, ks, options))


def _limit(c: Constraints, name: str) -> str:
    v = getattr(c, name)
    return f"{name} = {v:g}" if isinstance(v, float) else f"{name} = {v}"


def _why(c: Constraints, ks: list[Candidate], options: Sequence[Any]) -> Infeasible:
    """The binding constraint and the closest option, said as a person would."""
    if c.instance_type is not None and not any(o.name == c.instance_type for o in options):
        names = ", ".join(o.name for o in options)
        return Infeasible(("instance_type",), "Unknown instance type",
                          f'instance_type = "{c.instance_type}" is not hardware this provider lists ({names}). '
                          "Use one of those, or leave instance_type unset to let the constraints choose.")
    fixed = f' (instance_type = "{c.instance_type}" is fixed)' if c.instance_type else ""
    if not ks:
        return Infeasible(("constraints",), "Constraints cannot be checked",
                          f"No measured configuration matches what the endpoint fixes (batch size {c.batch_size}). "
                          "Run plan again; if it persists, remove the batch size to let the constraints choose.")
    accel = [k for k in ks if accelerator_ok(k.accelerator, c.accelerators)]
    if not accel:
        offered = sorted({o.accelerator for o in options})
        return Infeasible(("constraints", "accelerators"), "Accelerator constraint cannot be met",
                          f"accelerators = {c.accelerators}, but the hardware offered{fixed} has {offered}. "
                          "Add one of those to accelerators, or use a provider with that hardware.")
    enough = [k for k in accel if c.min_throughput_rps is None or k.capacity_rps >= c.min_throughput_rps]
    if not enough:
        k = max(accel, key=lambda x: (x.capacity_rps, -x.cost_per_hour))
        cap = " (replicas is fixed)" if c.replicas is not None else (
            f" (autoscaling.max_replicas = {c.max_replicas})" if c.max_replicas is not None else "")
        path = ("autoscaling", "max_replicas") if c.max_replicas is not None and c.replicas is None else (
            "constraints", "min_throughput_rps")
        return Infeasible(path, "Throughput constraint cannot be met",
                          f"{_limit(c, 'min_throughput_rps')} req/s, but the most the options reach{cap}{fixed} "
                          f"is {k.capacity_rps:.0f} req/s with {k.summary()} ({k.basis}). Raise replicas or "
                          "max_replicas, or relax the constraint.")
    fast = [k for k in enough if c.p99_latency_ms is None or k.p99_ms <= c.p99_latency_ms]
    if not fast:
        k = min(enough, key=lambda x: (x.p99_ms, x.cost_per_hour))
        return Infeasible(("constraints", "p99_latency_ms"), "Latency constraint cannot be met",
                          f"{_limit(c, 'p99_latency_ms')} ms, but the fastest option{fixed} is {k.summary()} "
                          f"({k.basis}). Relax the constraint, allow faster hardware, or use a smaller model.")
    k = min(fast, key=_rank)
    name = next(n for n in COST if n in violations(c, k))
    need = _needs(c)
    unit = "/h" if name == "max_cost_per_hour" else "/1M"
    got = k.cost_per_hour if name == "max_cost_per_hour" else k.cost_per_million
    return Infeasible(("constraints", name), "Cost constraint cannot be met",
                      f"{need} needs {k.hardware} x{k.replicas} at ${got:.2f}{unit}; {_limit(c, name)}. "
                      f"The closest option is {k.summary()} ({k.basis}): raise {name} or relax {_perf_names(c)}.")


def _needs(c: Constraints) -> str:
    parts = []
    if c.p99_latency_ms is not None:
        parts.append(f"p99 {c.p99_latency_ms:g} ms")
    if c.min_throughput_rps is not None:
        parts.append(f"{c.min_throughput_rps:g} req/s")
    if c.accelerators:
        parts.append("accelerators " + "/".join(c.accelerators))
    return " at ".join(parts[:2]) + (f" on {parts[2]}" if len(parts) > 2 else "") if parts else "Serving"


def _perf_names(c: Constraints) -> str:
    names = [n for n in PERFORMANCE if getattr(c, n) is not None]
    return " or ".join(names) if names else "the hardware choice"


def autoscaling_check(c: Constraints, best: Candidate, target_rps_per_replica: float | None
                      ) -> list[tuple[tuple[str, ...], str, str]]:
    """Warnings on ``autoscaling`` bounds against ``min_throughput_rps`` and the chosen replica's rate."""
    out: list[tuple[tuple[str, ...], str, str]] = []
    per = best.capacity_rps / best.replicas
    if c.min_replicas is not None and c.min_throughput_rps is not None and \
            c.min_replicas * per < c.min_throughput_rps and c.max_replicas is not None:
        out.append((("autoscaling", "min_replicas"), "Autoscaling may start below the declared throughput",
                    f"min_replicas = {c.min_replicas} replicas of {best.hardware} serve about "
                    f"{c.min_replicas * per:.0f} "
                    f"req/s, below min_throughput_rps = {c.min_throughput_rps:g}. Raise min_replicas to "
                    f"{math.ceil(c.min_throughput_rps / per)}."))
    if target_rps_per_replica is not None and target_rps_per_replica > per:
        out.append((("autoscaling", "target_rps_per_replica"), "Autoscaling target above a replica's rate",
                    f"target_rps_per_replica = {target_rps_per_replica:g}, but one {best.hardware} replica is "
                    f"planned for {per:.0f} req/s (p99 {best.p99_ms:.1f} ms): it would scale out too late. "
                    f"Lower it to {per:.0f} or less."))
    return out
