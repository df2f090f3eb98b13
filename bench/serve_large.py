"""Large bodies on mlform's server: liveness while one is handled, binary vs JSON.

  (e) liveness: idle (the reference), then while a ~65 MB infer request (JSON, then the binary extension)
      is sent, decoded, run and encoded, ``GET /v2/health/live`` is polled every
      5 ms on another connection; reports the slowest and median answers;
  (f) a batch-64 request on the quickstart model, JSON vs the binary tensor
      extension: requests and values per second from wrk (``-t1 -c4``, a Lua
      script that POSTs a body prepared on disk with its content type and, for
      binary, ``Inference-Header-Content-Length``), JSON and binary alternated
      over rounds in the same run; without wrk, 4 keep-alive httpx connections
      from this process (whose Python client is then the limit).

Writes ``bench/results/serve_large.json``.

    python bench/serve_large.py            # (e) once each, (f) 3 rounds of 5 s each
    python bench/serve_large.py --smoke    # (f) 1 round of 2 s each
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


# The body is read from a file: a Lua long string would mangle binary data
# (line ends are normalised, "]]" ends it).
WRK_LUA = """
local f = assert(io.open(%(body)s, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = %(ctype)s
%(extra)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_s": %%f, "errors": %%d, "p50_ms": %%f, ' ..
    '"p99_ms": %%f}\\n', summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


def wrk_throughput(url: str, body: bytes, headers: dict[str, str], values: int,
                   seconds: float) -> dict[str, Any]:
    """wrk -t1 -c4 POSTing ``body``: requests and values per second."""
    with tempfile.TemporaryDirectory() as tmp:
        data, script = Path(tmp) / "body", Path(tmp) / "post.lua"
        data.write_bytes(body)
        n = headers.get("inference-header-content-length")
        script.write_text(WRK_LUA % {
            "body": json.dumps(str(data)),
            "ctype": json.dumps("application/octet-stream" if n else "application/json"),
            "extra": f'wrk.headers["Inference-Header-Content-Length"] = "{n}"' if n else ""})
        out = subprocess.run(["wrk", "-t1", "-c4", f"-d{max(1, round(seconds))}s", "--timeout",
                              "10s", "-s", str(script), url + PATH],
                             capture_output=True, text=True, check=True).stdout
    r: dict[str, Any] = json.loads(
        next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))[11:])
    if r["errors"]:
        raise SystemExit(f"wrk: {r['errors']} failed requests\n{out}")
    r["rps"] = r["requests"] / r["duration_s"]
    r["values_per_s"] = r["rps"] * values
    r["body_bytes"] = len(body)
    return r


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
    from mlform.providers.server.config import VersionSpec

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
            seconds, rounds = (2.0, 1) if args.smoke else (5.0, 3)
            load = wrk_throughput if shutil.which("wrk") else throughput
            report["loadgen"] = "wrk -t1 -c4" if shutil.which("wrk") else "python (httpx x4)"
            bb, n = binary_body(x)
            bodies = {"batch64_json": (json_body(x), {}),
                      "batch64_binary": (bb, {"inference-header-content-length": str(n)})}
            for body, headers in bodies.values():  # warm-up, and both bodies answer 200
                with httpx.Client(trust_env=False) as c:
                    assert c.post(h.url + PATH, content=body, headers=headers).status_code == 200
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in bodies}
            for _ in range(rounds):
                for key, (body, headers) in bodies.items():
                    runs[key].append(load(h.url, body, headers, x.size, seconds))
            for key, rs in runs.items():
                report[key] = dict(sorted(rs, key=lambda r: r["rps"])[len(rs) // 2], rounds=rs)
        finally:
            stop_server(h)
    report["load_average"] = os.getloadavg()
    report["binary_vs_json_values"] = (report["batch64_binary"]["values_per_s"]
                                       / report["batch64_json"]["values_per_s"])
    for key in ("liveness_idle", "liveness_json", "liveness_binary"):
        if key in report:
            r = report[key]
            print(f"{key}: {r['body_mb']:.1f} MB request {r['status']} in {r['request_s']:.2f} s;"
                  f" /v2/health/live x{r['live_polls']}: p50 {r['live_p50_ms']:.2f} ms, "
                  f"p99 {r['live_p99_ms']:.2f} ms, max {r['live_max_ms']:.2f} ms")
    print(f"(f) load: {report['loadgen']}, median of {rounds} round(s); load average "
          f"{report['load_average'][0]:.1f}")
    for key in ("batch64_json", "batch64_binary"):
        r = report[key]
        lat = f", p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms" if "p50_ms" in r else ""
        print(f"{key}: {r['rps']:.0f} req/s, {r['values_per_s'] / 1e6:.2f} M values/s, "
              f"{r['body_bytes']} B body{lat}")
    print(f"binary / JSON, values per second: {report['binary_vs_json_values']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_poll":
        poll(sys.argv[2])
    else:
        main()
