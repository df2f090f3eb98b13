"""Ray provider benchmark: the quickstart model on Ray Serve with 1 and 2 replicas against
the local server, same run, same machine.

A two-node Ray cluster of the bench's own on 127.0.0.1 (head and a second node, 2 CPUs
each, under a temp dir; every process it started is killed at the end), the
quickstart and examples/ray copied to a temp dir and applied with the CLI:

  1. local: the quickstart on the local provider (mlform's own server process);
  2. ray-1: examples/ray with replicas = 1;
  3. ray-2: examples/ray with replicas = 2 (one replica on each node).

Figures per target: throughput (closed-loop keep-alive clients posting the quickstart
row for ``--seconds``) and the client-side p99, each also as a ratio to local's
measured in the same run. Writes ``bench/results/ray.json``.

    python bench/ray.py            # 8 clients, 10 s per target
    python bench/ray.py --smoke    # 2 clients, 1 s per target, for CI
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the test suite's cluster start/stop (tests/fixtures/ray_cluster.py)
from tests.fixtures.ray_cluster import ClusterError, start_cluster, stop_cluster  # noqa: E402

CLI = [sys.executable, "-m", "mlform.engine.cli.main"]
SESSIONS: set[int] = set()  # the sessions of the bench's `ray start` calls: its cluster's processes
ROW = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}


def mlform(cwd: Path, *args: str) -> str:
    r = subprocess.run([*CLI, *args], cwd=cwd, text=True, capture_output=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"mlform {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def load(url: str, clients: int, seconds: float) -> dict[str, float]:
    lat: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def run() -> None:
        with httpx.Client(timeout=30, trust_env=False) as c:
            c.post(url, json=ROW)  # warm the connection
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.post(url, json=ROW)
                lat.append((time.perf_counter() - t0) * 1000)
                errors[0] += r.status_code != 200

    threads = [threading.Thread(target=run) for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {"rps": len(lat) / wall, "p99_ms": float(np.percentile(lat, 99)) if lat else 0.0,
            "requests": len(lat), "errors": errors[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=8)
    a = ap.parse_args()
    seconds, clients = (1.0, 2) if a.smoke else (a.seconds, a.clients)
    tmp = Path(tempfile.mkdtemp(prefix="mlrb", dir="/tmp"))
    work = tmp / "w"
    shutil.copytree(ROOT / "examples" / "quickstart", work / "quickstart",
                    ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    shutil.copytree(ROOT / "examples" / "ray", work / "ray", ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    results: dict[str, Any] = {"clients": clients, "seconds": seconds, "load_average": os.getloadavg()}
    try:
        try:
            cluster = start_cluster(tmp / "r", SESSIONS)
        except ClusterError as e:
            raise SystemExit(str(e)) from None
        dash, http = cluster.dashboard, cluster.http_port
        qs = work / "quickstart"
        mlform(qs, "apply", "--auto-approve")
        results["local"] = load(mlform(qs, "output", "--raw", "infer_url"), clients, seconds)
        mlform(qs, "destroy", "--auto-approve")
        proj = work / "ray"
        cfg = proj / "main.mlf.hcl"
        cfg.write_text(cfg.read_text().replace("http_port = 8000", f"http_port = {http}\n  proxy_location = \"HeadOnly\""))
        for n in (1, 2):
            cfg.write_text(cfg.read_text().replace("replicas         = 2", f"replicas         = {n}")
                           .replace("replicas         = 1", f"replicas         = {n}"))
            mlform(proj, "apply", "--auto-approve", "-var", f"ray_address={dash}")
            results[f"ray-{n}"] = load(mlform(proj, "output", "--raw", "infer_url"), clients, seconds)
        mlform(proj, "destroy", "--auto-approve", "-var", f"ray_address={dash}")
    finally:
        stop_cluster(tmp / "r", SESSIONS)
        shutil.rmtree(tmp, ignore_errors=True)
    base = results["local"]
    for k in ("ray-1", "ray-2"):
        results[k]["rps_vs_local"] = results[k]["rps"] / base["rps"] if base["rps"] else 0.0
        results[k]["p99_vs_local"] = results[k]["p99_ms"] / base["p99_ms"] if base["p99_ms"] else 0.0
    for k in ("local", "ray-1", "ray-2"):
        r = results[k]
        extra = f"  ({r['rps_vs_local']:.2f}x local rps, {r['p99_vs_local']:.2f}x local p99)" if k != "local" else ""
        print(f"{k:6} {r['rps']:8.1f} req/s  p99 {r['p99_ms']:7.2f} ms  errors {r['errors']}{extra}")
    if any(results[k]["errors"] for k in ("local", "ray-1", "ray-2")):
        raise SystemExit("some requests failed")
    if not a.smoke:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "ray.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
