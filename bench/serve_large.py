"""Large bodies on mlform's server: liveness while one is handled, binary vs JSON.

  (e) liveness: idle (the reference), then while a ~65 MB infer request (JSON, then the binary extension)
      is sent, decoded, run and encoded, ``GET /v2/health/live`` is polled every
      5 ms on another connection; reports the slowest and median answers;
  (f) a batch-64 request, JSON vs the binary tensor extension, at several row
      widths: the quickstart model (8 features) and linear models of 128, 768
      (a sentence embedding's width) and 3,072 features made here (MatMul to 16
      outputs, so the model's own time stays small next to the encoding):
      requests and values per second from wrk (``-t1 -c4``, a Lua script that
      POSTs a body prepared on disk with its content type and, for binary,
      ``Inference-Header-Content-Length``), JSON and binary alternated over
      rounds in the same run; without wrk, 4 keep-alive httpx connections from
      this process (whose Python client is then the limit).

Writes ``bench/results/serve_large.json``.

    python bench/serve_large.py            # (e) once each, (f) 3 rounds of 5 s each
    python bench/serve_large.py --smoke    # (f) 1 round of 2 s each, widths 8 and 768
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
WIDTHS = (8, 128, 768, 3072)  # 8 is the quickstart model itself


def write_linear(path: Path, width: int) -> Path:
    """A linear model ``features`` FP32 [batch, width] -> ``scores`` FP32 [batch, 16] as ONNX."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(width).normal(0, 0.05, (width, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "w"], ["scores"])], f"linear-{width}",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", width])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 16])],
        initializer=[numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


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


def batch64(width: int, rng: np.random.Generator, load: Any, seconds: float,
            rounds: int) -> dict[str, Any]:
    """(f) at one row width: a server of its own, JSON and binary alternated, the median round."""
    from mlform.providers.local.process import start_server, stop_server
    from mlform.providers.server.config import VersionSpec

    with tempfile.TemporaryDirectory() as tmp:
        model = MODEL if width == 8 else write_linear(Path(tmp) / f"linear-{width}.onnx", width)
        h = start_server("sentiment", Path(tmp), [VersionSpec("v1", str(model))], gpus="none")
        try:
            x = rng.normal(size=(64, width)).astype(np.float32)
            bb, n = binary_body(x)
            bodies = {"json": (json_body(x), {}),
                      "binary": (bb, {"inference-header-content-length": str(n)})}
            for body, headers in bodies.values():  # warm-up, and both bodies answer 200
                with httpx.Client(trust_env=False) as c:
                    r = c.post(h.url + PATH, content=body, headers=headers)
                    assert r.status_code == 200, r.text
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in bodies}
            for _ in range(rounds):
                for key, (body, headers) in bodies.items():
                    runs[key].append(load(h.url, body, headers, x.size, seconds))
        finally:
            stop_server(h)
    out: dict[str, Any] = {"model": "quickstart sentiment-v1.onnx" if width == 8 else f"linear {width} -> 16",
                           "values": int(x.size)}
    for key, rs in runs.items():
        out[key] = dict(sorted(rs, key=lambda r: r["rps"])[len(rs) // 2], rounds=rs)
    out["binary_vs_json"] = out["binary"]["values_per_s"] / out["json"]["values_per_s"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    from mlform.providers.local.process import start_server, stop_server
    from mlform.providers.server.config import VersionSpec

    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    if not args.smoke:
        with tempfile.TemporaryDirectory() as tmp:
            h = start_server("sentiment", Path(tmp), [VersionSpec("v1", str(MODEL))], gpus="none",
                             extra_config={"max_request_bytes": 256 << 20})
            try:
                big = rng.normal(size=(800_000, 8)).astype(np.float32)  # ~65 MB as JSON
                jb = json_body(big)
                bb, n = binary_body(big)
                report["liveness_idle"] = liveness_during(h.url, b"", {})
                report["liveness_json"] = liveness_during(h.url, jb, {})
                report["liveness_binary"] = liveness_during(
                    h.url, bb, {"inference-header-content-length": str(n)})
            finally:
                stop_server(h)
    seconds, rounds = (2.0, 1) if args.smoke else (5.0, 3)
    load = wrk_throughput if shutil.which("wrk") else throughput
    report["loadgen"] = "wrk -t1 -c4" if shutil.which("wrk") else "python (httpx x4)"
    report["batch64"] = {}
    for width in ((8, 768) if args.smoke else WIDTHS):
        report["batch64"][str(width)] = batch64(width, rng, load, seconds, rounds)
    report["load_average"] = os.getloadavg()
    for key in ("liveness_idle", "liveness_json", "liveness_binary"):
        if key in report:
            r = report[key]
            print(f"{key}: {r['body_mb']:.1f} MB request {r['status']} in {r['request_s']:.2f} s;"
                  f" /v2/health/live x{r['live_polls']}: p50 {r['live_p50_ms']:.2f} ms, "
                  f"p99 {r['live_p99_ms']:.2f} ms, max {r['live_max_ms']:.2f} ms")
    print(f"(f) load: {report['loadgen']}, median of {rounds} round(s); load average "
          f"{report['load_average'][0]:.1f}")
    for width, w in report["batch64"].items():
        for key in ("json", "binary"):
            r = w[key]
            lat = f", p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms" if "p50_ms" in r else ""
            print(f"batch 64 x {width:>4} {key:<6}: {r['rps']:7.0f} req/s, "
                  f"{r['values_per_s'] / 1e6:6.2f} M values/s, {r['body_bytes']:>8} B body{lat}")
        print(f"batch 64 x {width:>4} binary / JSON, values per second: {w['binary_vs_json']:.2f}x")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "_poll":
        poll(sys.argv[2])
    else:
        main()
