"""Large bodies on mlform's server: liveness while one is handled, binary vs JSON.

  (e) liveness: idle (the reference), then while a ~65 MB infer request (JSON, then the binary extension)
      is sent, decoded, run and encoded, ``GET /v2/health/live`` is polled every
      5 ms on another connection; reports the slowest and median answers;
  (f) a batch-64 request on the quickstart model, JSON vs the binary tensor
      extension: requests and values per second over 4 keep-alive connections.

Writes ``bench/results/serve_large.json``.

    python bench/serve_large.py            # (e) once each, (f) 5 s each
    python bench/serve_large.py --smoke    # (f) 2 s each
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "quickstart" / "models" / "sentiment-v1.onnx"
RESULTS = ROOT / "bench" / "results" / "serve_large.json"
PATH = "/v2/models/sentiment/infer"


def json_body(x: np.ndarray) -> bytes:
    return orjson.dumps({"inputs": [{"name": "features", "shape": list(x.shape),
                                     "datatype": "FP32", "data": x}]},
                        option=orjson.OPT_SERIALIZE_NUMPY)


def binary_body(x: np.ndarray) -> tuple[bytes, int]:
    raw = x.astype("<f4").tobytes()
    head = orjson.dumps({"inputs": [{"name": "features", "shape": list(x.shape),
                                     "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(raw)}}],
                         "parameters": {"binary_data_output": True}})
    return head + raw, len(head)


def liveness_during(url: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """Poll liveness from a separate process (this one is busy sending) during one request."""
    poller = subprocess.Popen([sys.executable, __file__, "_poll", url], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # the poller imports httpx and starts polling
    t0 = time.perf_counter()
    if body:
        with httpx.Client(trust_env=False, timeout=120) as c:
            status = c.post(url + PATH, content=body, headers=headers).status_code
    else:  # the reference: liveness with nothing else going on
        time.sleep(2.0)
        status = 0
    took = time.perf_counter() - t0
    out, _ = poller.communicate("stop\n", timeout=30)
    a = np.array(json.loads(out))
    return {"status": status, "body_mb": len(body) / 1e6, "request_s": took,
            "live_polls": len(a), "live_max_ms": float(a.max()),
            "live_p50_ms": float(np.median(a)), "live_p99_ms": float(np.percentile(a, 99))}


def poll(url: str) -> None:
    """``_poll URL``: GET liveness every 5 ms until stdin says stop; print the latencies."""
    gaps: list[float] = []
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), done.set()), daemon=True).start()
    with httpx.Client(trust_env=False, timeout=30) as c:
        c.get(url + "/v2/health/live")
        while not done.is_set():
            t0 = time.perf_counter()
            c.get(url + "/v2/health/live")
            gaps.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.005)
    print(json.dumps(gaps))


def throughput(url: str, body: bytes, headers: dict[str, str], values: int,
               seconds: float) -> dict[str, Any]:
    counts = [0] * 4
    stop = time.perf_counter() + seconds

    def worker(i: int) -> None:
        with httpx.Client(trust_env=False, timeout=30) as c:
            while time.perf_counter() < stop:
                assert c.post(url + PATH, content=body, headers=headers).status_code == 200
                counts[i] += 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.perf_counter() - t0
    n = sum(counts)
    return {"requests": n, "rps": n / took, "values_per_s": n * values / took,
            "body_bytes": len(body)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from mlform.providers.local.process import start_server, stop_server
    from mlform.providers.local.server.config import VersionSpec

    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with tempfile.TemporaryDirectory() as tmp:
        h = start_server("sentiment", Path(tmp), [VersionSpec("v1", str(MODEL))], gpus="none",
                         extra_config={"max_request_bytes": 256 << 20})
        try:
            if not args.smoke:
                big = rng.normal(size=(800_000, 8)).astype(np.float32)  # ~65 MB as JSON
                jb = json_body(big)
                bb, n = binary_body(big)
                report["liveness_idle"] = liveness_during(h.url, b"", {})
                report["liveness_json"] = liveness_during(h.url, jb, {})
                report["liveness_binary"] = liveness_during(
                    h.url, bb, {"inference-header-content-length": str(n)})
            x = rng.normal(size=(64, 8)).astype(np.float32)
            seconds = 2.0 if args.smoke else 5.0
            report["batch64_json"] = throughput(h.url, json_body(x), {}, x.size, seconds)
            bb, n = binary_body(x)
            report["batch64_binary"] = throughput(
                h.url, bb, {"inference-header-content-length": str(n)}, x.size, seconds)
        finally:
            stop_server(h)
    report["binary_vs_json_values"] = (report["batch64_binary"]["values_per_s"]
                                       / report["batch64_json"]["values_per_s"])
    for key in ("liveness_idle", "liveness_json", "liveness_binary"):
        if key in report:
            r = report[key]
            print(f"{key}: {r['body_mb']:.1f} MB request {r['status']} in {r['request_s']:.2f} s;"
                  f" /v2/health/live x{r['live_polls']}: p50 {r['live_p50_ms']:.2f} ms, "
                  f"p99 {r['live_p99_ms']:.2f} ms, max {r['live_max_ms']:.2f} ms")
    for key in ("batch64_json", "batch64_binary"):
        r = report[key]
        print(f"{key}: {r['rps']:.0f} req/s, {r['values_per_s'] / 1e6:.2f} M values/s, "
              f"{r['body_bytes']} B body")
    print(f"binary / JSON, values per second: {report['binary_vs_json_values']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_poll":
        poll(sys.argv[2])
    else:
        main()
