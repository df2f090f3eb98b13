"""Rollout benchmark: what a canary update costs the clients of a live endpoint.

On the quickstart model, served by mlform's local provider through the real
CLI (``mlform apply`` in a copy of examples/quickstart):

  1. steady state: 8 concurrent keep-alive clients for a fixed time -> p99,
     on v1 before and on v2 after the canary (a shared machine drifts: the
     two bracket what "steady" means during the run);
  2. a canary update v1 -> v2 (gate, 10% -> 50% -> 100%, a bake after each
     step) under the same load -> failed requests (target 0) and p99 (target
     within 1.5x steady state), over the whole apply and split in two phases:
     the CLI's own work before traffic moves (start, plan, model profile, the
     gate's eval run) and the traffic steps with their bakes;
  3. an injected fault: v3 is v2 with a slow path added to its graph (same
     answers, about 10 ms more per request; built here with ``onnx``), rolled
     out under the same load with ``rollback_when.p99_latency_ms = 5`` (and the
     plan-time ``constraints.p99_latency_ms`` relaxed so the plan lets it through):
     the time from the first request routed to it to the moment all traffic
     is back on v2 and v3 is unloaded, read from the router's admin API.

Load comes from bench/serve.py's generators (``wrk`` when installed, else its
asyncio clients) in a separate process, run back to back in 1 s runs (2 s
for the python generator) so each second's p99 is known: a phase's p99 is
the median of its seconds' p99, with the worst second beside it. On a 2-core machine the CLI (its own
start, the gate's eval run) competes with the server and the load for CPU,
which is part of what a rollout costs here. Prints a table and writes
``bench/results/rollout.json``.

    python bench/rollout.py            # 10 s steady state, 5 s bakes
    python bench/rollout.py --smoke    # about a minute in all, for CI
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve  # noqa: E402  (bench/serve.py: load generators and machine description)

ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "examples" / "quickstart"
RESULTS = ROOT / "bench" / "results" / "rollout.json"
FAULT_P99_MS = 5.0  # v2 measures ~0.2 ms server-side; the slow v3 ~10 ms
CLI = [sys.executable, "-m", "mlform.engine.cli.main"]


def mlform(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=proj, text=True, capture_output=True, timeout=600)


def slow_model(src: Path, dst: Path, size: int = 1024, depth: int = 48) -> None:
    """``src`` plus a chain of ``depth`` 1024x1024 MatMul+Tanh whose sum, times 1e-30,
    is added to the output: the same answers, much slower (a fault a gate cannot see)."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(str(src))
    g = m.graph
    out = g.output[0].name
    rng = np.random.default_rng(0)
    g.initializer.extend([
        numpy_helper.from_array((rng.standard_normal((8, size)) / np.sqrt(8)).astype(np.float32), "slow_w_in"),
        numpy_helper.from_array((rng.standard_normal((size, size)) / np.sqrt(size)).astype(np.float32), "slow_w"),
        numpy_helper.from_array(np.array(1e-30, dtype=np.float32), "slow_eps")])
    for n in g.node:
        for i, o in enumerate(n.output):
            if o == out:
                n.output[i] = "slow_real_out"
    nodes = [helper.make_node("MatMul", [g.input[0].name, "slow_w_in"], ["slow_h0"])]
    for i in range(depth):
        nodes += [helper.make_node("MatMul", [f"slow_h{i}", "slow_w"], [f"slow_m{i}"]),
                  helper.make_node("Tanh", [f"slow_m{i}"], [f"slow_h{i + 1}"])]
    nodes += [helper.make_node("ReduceSum", [f"slow_h{depth}"], ["slow_s"], keepdims=1),
              helper.make_node("Mul", ["slow_s", "slow_eps"], ["slow_z"]),
              helper.make_node("Add", ["slow_real_out", "slow_z"], [out])]
    g.node.extend(nodes)
    onnx.checker.check_model(m)
    onnx.save(m, str(dst))


def configure(proj: Path, bake: float, p99_ms: float, constraint_ms: float = 50) -> None:
    cfg = proj / "main.mlf.hcl"
    lines: list[str] = []
    for ln in cfg.read_text().splitlines():
        key = ln.strip().split(" ", 1)[0]
        if key == "bake_seconds":
            ln = f"    bake_seconds = {bake:g}"
        elif key == "p99_latency_ms" and "rollback_when" in "".join(lines[-6:]):
            ln = f"      p99_latency_ms = {p99_ms:g}"
        elif key == "p99_latency_ms" and "constraints" in "".join(lines[-3:]):
            ln = f"    p99_latency_ms = {constraint_ms:g}"
        lines.append(ln)
    cfg.write_text("\n".join(lines) + "\n")


class Watch:
    """Polls GET /mlform/info every 50 ms: (time, weights) whenever the split changes.

    It runs in the steady-state phases too, so every phase carries the same
    observer (20 admin calls a second cost the server ~10% of p99 on 2 cores)."""

    def __init__(self, proj: Path) -> None:
        sdir = proj / ".mlform" / "servers" / "sentiment"
        port = json.loads((sdir / "status.json").read_text())["port"]
        self.url = f"http://127.0.0.1:{port}/mlform/info"
        self.token = json.loads((sdir / "config.json").read_text())["token"]
        self.changes: list[tuple[float, dict[str, float]]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self.stop.is_set():
                try:
                    w = c.get(self.url).json()["weights"]
                except httpx.HTTPError:
                    continue
                if not self.changes or self.changes[-1][1] != w:
                    self.changes.append((time.monotonic(), w))
                time.sleep(0.05)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


class Chunks:
    """Load in back-to-back runs of ``chunk`` seconds until stopped, each run timestamped,
    so p99 can be told apart by phase (the generators report whole-run figures only)."""

    def __init__(self, load: Callable[[str, float], dict[str, Any]], url: str, chunk: float) -> None:
        self.load, self.url, self.chunk = load, url, chunk
        self.runs: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            t0 = time.monotonic()
            r = self.load(self.url, self.chunk)
            self.runs.append({**r, "start": t0, "end": time.monotonic()})

    def __enter__(self) -> Chunks:
        self.thread.start()
        time.sleep(0.5)  # the clients are connected and busy before anything changes
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def between(self, t0: float, t1: float) -> list[dict[str, Any]]:
        """The runs that overlap [t0, t1] by at least half their length."""
        return [r for r in self.runs if min(r["end"], t1) - max(r["start"], t0) >= (r["end"] - r["start"]) / 2]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests, failures, req/s, and the median and worst per-run p99 of ``runs``."""
    if not runs:
        return {"runs": 0, "requests": 0, "errors": 0, "rps": 0.0, "p99_ms_median": None, "p99_ms_worst": None}
    p99 = sorted(r["p99_ms"] for r in runs)
    took = sum(r["duration_s"] for r in runs)
    return {"runs": len(runs), "requests": sum(r["requests"] for r in runs),
            "errors": sum(r["errors"] for r in runs), "rps": sum(r["requests"] for r in runs) / took,
            "p99_ms_median": float(np.median(p99)), "p99_ms_worst": p99[-1]}


def rollout_under_load(proj: Path, load: Callable[[str, float], dict[str, Any]], url: str, chunk: float,
                       model_file: str) -> dict[str, Any]:
    """Apply ``model_file`` under chunked load, watching the router; figures per phase."""
    with Chunks(load, url, chunk) as chunks, Watch(proj) as watch:
        t0 = time.monotonic()
        r = mlform(proj, "apply", "--auto-approve", "--var", f"model_file={model_file}")
        t1 = time.monotonic()
        time.sleep(chunk)  # let the run in flight end inside the window
    # Traffic moves from the first split that gives a version other than the one
    # serving at the start any share (staging it at 0% and its gate come before).
    first = set(watch.changes[0][1]) if watch.changes else set()
    moved = [t for t, w in watch.changes[1:] if any(p > 0 for v, p in w.items() if v not in first)]
    steps_from = moved[0] if moved else t1
    steps_to = watch.changes[-1][0] if moved else t1
    return {"apply": r, "apply_seconds": t1 - t0, "changes": watch.changes, "t0": t0, "t1": t1,
            "window": summarize(chunks.between(t0, t1)),
            "before_traffic_moves": summarize(chunks.between(t0, steps_from)),
            "while_traffic_moves": summarize(chunks.between(steps_from, steps_to)),
            "all_runs": chunks.runs}


def vid(digest: str) -> str:
    return "v-" + digest.split(":")[-1][:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="about a minute in all, for CI")
    ap.add_argument("--seconds", type=float, default=10.0, help="steady-state load time")
    ap.add_argument("--bake", type=float, default=5.0, help="bake_seconds of each canary step")
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.bake = 3.0, 1.0
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    load = serve.run_wrk if use_wrk else serve.run_python_load
    loadgen = f"wrk -t1 -c{serve.CONNECTIONS}" if use_wrk else \
        f"python asyncio load generator, {serve.CONNECTIONS} connections"
    chunk = 1.0 if use_wrk else 2.0  # a python generator run costs a process start

    with tempfile.TemporaryDirectory() as tmp:
        proj = Path(tmp) / "quickstart"
        shutil.copytree(QUICKSTART, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
        slow_model(proj / "models" / "sentiment-v2.onnx", proj / "models" / "sentiment-slow.onnx")
        configure(proj, args.bake, 250)
        print("applying the quickstart (v1)...", flush=True)
        r = mlform(proj, "apply", "--auto-approve")
        if r.returncode != 0:
            sys.exit(f"apply failed:\n{r.stdout}\n{r.stderr}")
        base = mlform(proj, "output", "--raw", "url").stdout.strip()
        try:
            load(base, 1.0)  # warm-up, not recorded
            print(f"steady state: {args.seconds:g}s of load in {chunk:g}s runs...", flush=True)
            with Chunks(load, base, chunk) as steady_chunks, Watch(proj):
                time.sleep(args.seconds)
            steady = summarize(steady_chunks.runs)

            print("canary v1 -> v2 under load...", flush=True)
            canary = rollout_under_load(proj, load, base, chunk, "models/sentiment-v2.onnx")
            if canary["apply"].returncode != 0:
                sys.exit(f"canary apply failed:\n{canary['apply'].stdout}\n{canary['apply'].stderr}")
            print(f"steady state on v2: {args.seconds:g}s...", flush=True)
            with Chunks(load, base, chunk) as after_chunks, Watch(proj):
                time.sleep(args.seconds)
            steady_after = summarize(after_chunks.runs)
            st = json.loads((proj / "mlform.state.json").read_text())
            steps = st["history"][-1]["rollouts"][0]["steps"]
            v2 = vid(next(x for x in st["resources"] if x["address"] == "endpoint.sentiment")
                     ["attributes"]["active_model_digest"])

            print(f"fault: a slow v3, rollback_when.p99_latency_ms = {FAULT_P99_MS:g}...", flush=True)
            configure(proj, args.bake, FAULT_P99_MS, constraint_ms=10000)
            fault = rollout_under_load(proj, load, base, chunk, "models/sentiment-slow.onnx")
            rf = fault["apply"]
            rolled_back = rf.returncode == 1 and "was rolled back" in rf.stderr
            changes = fault["changes"]
            bad = next((k for _, w in changes for k in w if k != v2), None)
            t_fault = next((t for t, w in changes if bad and w.get(bad, 0) > 0), None)
            t_back = next((t for t, w in changes if t_fault and t > t_fault and w == {v2: 100.0}), None)
            to_rollback = (t_back - t_fault) if t_fault and t_back else None
        finally:
            mlform(proj, "destroy", "--auto-approve")

    def ratio(x: dict[str, Any]) -> str:
        m = x["p99_ms_median"]
        return f"{m / steady['p99_ms_median']:.2f}" if m is not None else "-"

    rows = [("steady state (v1, before)", steady), ("steady state (v2, after)", steady_after),
            ("canary: whole apply", canary["window"]),
            ("canary: CLI work (plan, stage, gate)", canary["before_traffic_moves"]),
            ("canary: traffic 10->50->100%", canary["while_traffic_moves"]),
            ("fault: whole apply", fault["window"])]
    print(f"\nload: {loadgen}, in back-to-back {chunk:g}s runs; bake {args.bake:g}s per step")
    print(f"{'phase':32s} {'requests':>9s} {'failed':>7s} {'req/s':>7s} {'p99 ms (median s)':>18s} "
          f"{'worst s':>8s} {'vs steady':>9s}")
    for name, x in rows:
        med = f"{x['p99_ms_median']:.2f}" if x["p99_ms_median"] is not None else "-"
        worst = f"{x['p99_ms_worst']:.2f}" if x["p99_ms_worst"] is not None else "-"
        print(f"{name:32s} {x['requests']:9d} {x['errors']:7d} {x['rps']:7.0f} {med:>18s} {worst:>8s} "
              f"{ratio(x):>9s}")
    print(f"canary apply took {canary['apply_seconds']:.1f}s; server-side p99 of v2 per step: "
          + ", ".join(f"{s['percent']}%: {s.get('p99_ms') or 0:.2f} ms" for s in steps if "percent" in s))
    print(f"fault: rolled back {'yes' if rolled_back else 'NO'}; first request on the slow version to all "
          f"traffic back on v2: {f'{to_rollback:.2f}s' if to_rollback is not None else 'not observed'}; "
          f"apply took {fault['apply_seconds']:.1f}s")
    failed = canary["window"]["errors"] + fault["window"]["errors"]

    def public(x: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in x.items() if k != "apply"}

    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": serve.machine(), "load_generator": loadgen,
              "connections": serve.CONNECTIONS, "chunk_seconds": chunk, "smoke": args.smoke,
              "bake_seconds": args.bake, "steady": steady, "steady_runs": steady_chunks.runs,
              "steady_after": steady_after, "steady_after_runs": after_chunks.runs,
              "canary": public(canary), "canary_steps": steps, "fault": public(fault),
              "fault_rolled_back": rolled_back, "fault_to_rollback_seconds": to_rollback,
              "fault_p99_threshold_ms": FAULT_P99_MS, "failed_requests": failed,
              "p99_ratio_while_traffic_moves": (canary["while_traffic_moves"]["p99_ms_median"] or 0)
              / steady["p99_ms_median"],
              "p99_ratio_whole_apply": (canary["window"]["p99_ms_median"] or 0) / steady["p99_ms_median"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not rolled_back:
        print(f"the faulty rollout was not rolled back:\n{rf.stdout[-3000:]}\n{rf.stderr[-3000:]}")
    if failed or not rolled_back:
        sys.exit(1)

if __name__ == "__main__":
    main()
