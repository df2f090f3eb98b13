"""The constraint solver's choice against an exhaustive measured search (issue 18).

A model whose run cost matters (bench/serve_modes.py's MLP) is profiled here the way
``plan`` profiles it (providers/local/profile.py: batch sizes x intra-op threads, by
the server's runner). Local configurations are priced by the cores they hold
(``cpu-1``: 1 core, ``cpu-2``: 2 cores, $0.05 a core-hour; replicas x threads <=
this machine's cores), and the solver (engine/constraints/solver.py) picks the
cheapest (hardware, replicas, batch size, batching delay) for each scenario's
declared p99 and throughput. Then every configuration (threads x batch size x
replicas) is MEASURED under the declared throughput: an open-loop, seeded Poisson
arrival stream at that rate, dispatched round-robin to the replicas, each replica
an OnnxRunner thread batching what is queued within the delay, as the server's
adaptive batcher does. The measured optimum is the cheapest configuration whose
measured p99 meets the constraint and which keeps up with the stream.

Bars: the chosen cost within 5% of the measured optimum, and the chosen
configuration meeting its p99 when measured. Both sides run in-process (no HTTP),
so the solver's server-overhead term is zero here. Writes bench/results/constraints.json.

    python bench/constraints.py            # 2 scenarios, 3 s a configuration (~3 min)
    python bench/constraints.py --smoke    # 1 scenario, 3 batch sizes, 0.5 s each (~20 s)
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "constraints.json"
sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve_modes  # noqa: E402  (its MLP, whose run cost dominates)

from mlform.engine.constraints.model import Constraints, Profile  # noqa: E402
from mlform.engine.constraints.solver import solve  # noqa: E402
from mlform.engine.providers.protocol import HardwareOption, ProfileResponse  # noqa: E402
from mlform.providers.local.profile import profile_grid  # noqa: E402
from mlform.providers.server.runners import OnnxRunner, example_feed  # noqa: E402

CORE_PRICE = 0.05


def options(cores: int) -> list[HardwareOption]:
    today = date.today().isoformat()
    return [HardwareOption(f"cpu-{t}", "none", t, 0.0, CORE_PRICE * t, today, max_replicas=cores // t)
            for t in (1, 2, 4, 8) if t <= cores]


def measure(path: Path, threads: int, batch: int, replicas: int, delay_ms: float, rps: float, seconds: float,
            seed: int = 7) -> dict[str, Any]:
    """p50/p99 ms and served req/s of one configuration under a Poisson stream at ``rps``."""
    runners = [OnnxRunner(path, "none", threads=threads) for _ in range(replicas)]
    feeds = {b: example_feed(runners[0], batch=b) for b in range(1, batch + 1)}
    for r in runners:
        for _ in range(5):
            r.run(feeds[batch])
    qs: list[queue.Queue[float]] = [queue.Queue() for _ in runners]
    lat: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(i: int) -> None:
        q, r = qs[i], runners[i]
        while True:
            try:
                first = q.get(timeout=0.05)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            items = [first]
            deadline = time.perf_counter() + delay_ms / 1000
            while len(items) < batch:
                left = deadline - time.perf_counter()
                try:
                    items.append(q.get(timeout=left) if left > 0 else q.get_nowait())
                except queue.Empty:
                    break
            r.run(feeds[len(items)])
            done = time.perf_counter()
            with lock:
                lat.extend((done - a) * 1000 for a in items)

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(replicas)]
    for t in ts:
        t.start()
    gaps = np.random.default_rng(seed).exponential(1 / rps, int(rps * seconds * 1.2) + 10)
    start = time.perf_counter()
    at, sent = start, 0
    for i, g in enumerate(gaps):
        at += g
        if at - start > seconds:
            break
        now = time.perf_counter()
        if at > now:
            time.sleep(at - now)
        qs[i % replicas].put(at)
        sent += 1
    drain_until = time.perf_counter() + 2.0
    while any(not q.empty() for q in qs) and time.perf_counter() < drain_until:
        time.sleep(0.01)
    stop.set()
    for t in ts:
        t.join(timeout=3)
    backlog = sent - len(lat)
    arr = np.array(lat) if lat else np.array([float("inf")])
    return {"p50_ms": float(np.percentile(arr, 50)), "p99_ms": float(np.percentile(arr, 99)) if not backlog else
            float("inf"), "sent": sent, "served": len(lat), "backlog": backlog}


def scenario(path: Path, prof: Profile, cores: int, p99: float, rps: float, batches: list[int], seconds: float
             ) -> dict[str, Any]:
    opts = options(cores)
    sol = solve(Constraints(p99_latency_ms=p99, min_throughput_rps=rps), prof, opts)
    grid = []
    for o in opts:
        for n in range(1, (o.max_replicas or 1) + 1):
            for b in batches:
                load = rps / n
                delay = 0.0 if b == 1 else min(10.0, (b - 1) * 1000.0 / load)
                m = measure(path, o.vcpus, b, n, delay, rps, seconds)
                ok = m["p99_ms"] <= p99 and m["backlog"] == 0
                grid.append({"hardware": o.name, "threads": o.vcpus, "replicas": n, "batch_size": b,
                             "max_delay_ms": round(delay, 2), "cost_per_hour": o.price_per_hour * n, "meets": ok, **m})
                print(f"  {o.name} x{n} batch {b:>2} delay {delay:5.2f} ms: p99 {m['p99_ms']:8.2f} ms, "
                      f"backlog {m['backlog']:>4}  {'ok' if ok else '--'}  ${o.price_per_hour * n:.2f}/h", flush=True)
    feasible = [g for g in grid if g["meets"]]
    best = min(feasible, key=lambda g: (g["cost_per_hour"], g["p99_ms"])) if feasible else None
    out: dict[str, Any] = {"p99_latency_ms": p99, "min_throughput_rps": rps, "optimum": best, "grid": grid}
    if sol.best is None:
        out["chosen"] = None
        out["infeasible"] = sol.infeasible.summary if sol.infeasible else None
        return out
    c = sol.best
    m = measure(path, c.threads, c.batch_size, c.replicas, c.max_delay_ms, rps, seconds * 2, seed=11)
    out["chosen"] = {"hardware": c.hardware, "replicas": c.replicas, "batch_size": c.batch_size,
                     "max_delay_ms": c.max_delay_ms, "threads": c.threads, "estimated_p99_ms": c.p99_ms,
                     "cost_per_hour": c.cost_per_hour, "measured": m,
                     "meets_p99_measured": m["p99_ms"] <= p99 and m["backlog"] == 0}
    out["cost_ratio_to_optimum"] = (c.cost_per_hour / best["cost_per_hour"]) if best else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="one scenario, three batch sizes, 0.5 s each")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    batches = [1, 4, 16] if args.smoke else [1, 2, 4, 8, 16, 32]
    seconds = 0.5 if args.smoke else args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        serve_modes.HIDDEN = 2048  # ~5 M multiply-adds a row: the model, not Python, sets the rate
        path = serve_modes.write_mlp(Path(tmp) / "mlp.onnx")
        t0 = time.perf_counter()
        raw = profile_grid(path, "onnx", "bench", Path(tmp) / "cache", "none", batches,
                           sorted({1, cores} | ({2} if cores >= 2 else set())))
        assert raw is not None, "the MLP did not run"
        prof = Profile.from_response(ProfileResponse(points=raw["points"], cpu=raw["cpu"], overhead_ms=0.0))
        print(f"profiled {len(prof.points)} points in {time.perf_counter() - t0:.1f} s on {raw['cpu']} ({cores} cores)")
        one = next(p for p in prof.points if p.batch_size == 1 and p.threads == 1)
        rate1 = 1000 / one.p50_ms  # one single-thread replica at batch 1
        plans = [(one.p99_ms * 8 + 5, rate1 * 0.5), (one.p99_ms * 12 + 10, rate1 * 1.6)]
        results = []
        for p99, rps in plans[:1] if args.smoke else plans:
            print(f"scenario: p99 <= {p99:.1f} ms at {rps:.0f} req/s")
            r = scenario(path, prof, cores, round(p99, 1), round(rps), batches, seconds)
            results.append(r)
            ch, opt = r.get("chosen"), r.get("optimum")
            print(f"  chosen:  {ch and (ch['hardware'], ch['replicas'], ch['batch_size'], ch['cost_per_hour'])}, "
                  f"measured p99 {ch and round(ch['measured']['p99_ms'], 2)} ms, meets: "
                  f"{ch and ch['meets_p99_measured']}")
            print(f"  optimum: {opt and (opt['hardware'], opt['replicas'], opt['batch_size'], opt['cost_per_hour'])}"
                  f", cost ratio {r.get('cost_ratio_to_optimum')}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    RESULTS.write_text(json.dumps({"date": date.today().isoformat(), "cores": cores, "loadavg": load,
                                   "smoke": args.smoke, "scenarios": results}, indent=2, default=str))
    print(f"wrote {RESULTS} (load average {load[0]:.1f})")
    ok = all(r.get("chosen") and r["chosen"]["meets_p99_measured"] and (r.get("cost_ratio_to_optimum") or 99) <= 1.05
             for r in results)
    print("bars met" if ok else "a bar was missed (see above)")
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
