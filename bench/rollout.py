"""Rollout benchmark: what a canary update costs the clients of a live endpoint.

On the quickstart model, served by mlform's local provider through the real
CLI (``mlform apply`` in a copy of examples/quickstart):

  1. steady state: 8 concurrent keep-alive clients for a fixed time -> p50/p99;
  2. a canary update v1 -> v2 (gate, 10% -> 50% -> 100%, a bake after each
     step) under the same load -> failed requests (target 0) and p99 over the
     load window that holds the rollout (target within 1.5x steady state);
  3. an injected fault: v3 is v2 with a slow path added to its graph (same
     answers, about 10 ms more per request; built here with ``onnx``), rolled
     out under the same load with ``rollback_when.p99_latency_ms = 5`` (and the
     plan-time ``constraints.p99_latency_ms`` relaxed so the plan lets it through):
     the time from the first request routed to it to the moment all traffic
     is back on v2 and v3 is unloaded, read from the router's admin API.

Load comes from bench/serve.py's generators (``wrk`` when installed, else its
asyncio clients) in a separate process. On a 2-core machine the CLI (its own
start, the gate's eval run) competes with the server and the load for CPU,
which is part of what a rollout costs here. Prints a table and writes
``bench/results/rollout.json``.

    python bench/rollout.py            # 10 s steady state, 5 s bakes
    python bench/rollout.py --smoke    # about 40 s in all, for CI
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
    """Polls GET /mlform/info every 20 ms: (time, weights) whenever the split changes."""

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
                time.sleep(0.02)

    def __enter__(self) -> Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def under_load(load: Callable[[str, float], dict[str, Any]], url: str, seconds: float,
               action: Callable[[], Any]) -> tuple[dict[str, Any], Any, float]:
    """Run ``action`` while the load generator runs for ``seconds``; returns (load result,
    action result, action seconds)."""
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.setdefault("r", load(url, seconds)))
    t.start()
    time.sleep(0.5)  # the clients are connected and busy before anything changes
    t0 = time.monotonic()
    out = action()
    took = time.monotonic() - t0
    t.join()
    return box["r"], out, took


def vid(digest: str) -> str:
    return "v-" + digest.split(":")[-1][:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="about 40 s in all, for CI")
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
    # The rollout's load window: CLI start, plan, gate, three bakes, finish, with room to spare
    # (the fault's is longer: its plan profiles the slow model first).
    window = 3 * args.bake + 12.0

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
            print(f"steady state: {args.seconds:g}s of load...", flush=True)
            steady = load(base, args.seconds)

            print(f"canary v1 -> v2 under load ({window:g}s window)...", flush=True)
            canary, r, canary_s = under_load(load, base, window, lambda: mlform(
                proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx"))
            if r.returncode != 0:
                sys.exit(f"canary apply failed:\n{r.stdout}\n{r.stderr}")
            st = json.loads((proj / "mlform.state.json").read_text())
            steps = st["history"][-1]["rollouts"][0]["steps"]

            print(f"fault: a slow v3, rollback_when.p99_latency_ms = {FAULT_P99_MS:g}...", flush=True)
            configure(proj, args.bake, FAULT_P99_MS, constraint_ms=10000)
            v2 = vid(next(x for x in st["resources"] if x["address"] == "endpoint.sentiment")
                     ["attributes"]["active_model_digest"])
            with Watch(proj) as watch:
                fault, rf, fault_s = under_load(load, base, window + 18, lambda: mlform(
                    proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-slow.onnx"))
            rolled_back = rf.returncode == 1 and "was rolled back" in rf.stderr
            bad = next((k for _, w in watch.changes for k in w if k != v2), None)
            t_fault = next((t for t, w in watch.changes if bad and w.get(bad, 0) > 0), None)
            t_back = next((t for t, w in watch.changes if t_fault and t > t_fault and w == {v2: 100.0}), None)
            to_rollback = (t_back - t_fault) if t_fault and t_back else None
        finally:
            mlform(proj, "destroy", "--auto-approve")

    p99_ratio = canary["p99_ms"] / steady["p99_ms"]
    rows = [("steady state", steady, "-"), ("canary v1->v2 window", canary, f"{p99_ratio:.2f}"),
            ("fault window (slow v3)", fault, f"{fault['p99_ms'] / steady['p99_ms']:.2f}")]
    print(f"\nload: {loadgen}; bake {args.bake:g}s per step; rollout window {window:g}s")
    print(f"{'phase':28s} {'requests':>9s} {'failed':>7s} {'req/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s} "
          f"{'p99/steady':>10s}")
    for name, x, rel in rows:
        print(f"{name:28s} {x['requests']:9d} {x['errors']:7d} {x['rps']:8.0f} {x['p50_ms']:8.3f} "
              f"{x['p99_ms']:8.3f} {rel:>10s}")
    print(f"canary apply took {canary_s:.1f}s (steps: "
          + ", ".join(f"{s['percent']}% p99 {s.get('p99_ms') or 0:.2f} ms" for s in steps if "percent" in s) + ")")
    print(f"fault: rolled back {'yes' if rolled_back else 'NO'}; first request on the slow version to all "
          f"traffic back on v2: {f'{to_rollback:.2f}s' if to_rollback is not None else 'not observed'}; "
          f"apply took {fault_s:.1f}s")
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": serve.machine(), "load_generator": loadgen,
              "connections": serve.CONNECTIONS, "smoke": args.smoke, "bake_seconds": args.bake,
              "window_seconds": window, "steady": steady, "canary": canary, "canary_apply_seconds": canary_s,
              "canary_steps": steps, "p99_ratio_canary_to_steady": p99_ratio,
              "canary_failed_requests": canary["errors"], "fault": fault, "fault_apply_seconds": fault_s,
              "fault_rolled_back": rolled_back, "fault_to_rollback_seconds": to_rollback,
              "fault_p99_threshold_ms": FAULT_P99_MS, "fault_traffic_changes": watch.changes,
              "load_covered_rollout": canary_s + 0.5 < window, "load_covered_fault": fault_s + 0.5 < window + 18}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not rolled_back:
        print(f"the faulty rollout was not rolled back:\n{rf.stdout[-3000:]}\n{rf.stderr[-3000:]}")
    if canary["errors"] or not rolled_back:
        sys.exit(1)


if __name__ == "__main__":
    main()
