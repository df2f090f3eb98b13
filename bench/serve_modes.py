"""Serving modes of mlform's server: adaptive batching, and gRPC against REST.

  (g) adaptive batching: 64 concurrent keep-alive clients (wrk -c64) sending
      batch-1 requests to an MLP whose run cost dominates (256 -> 1024 -> 1024
      -> 16, ~1.3 M multiply-adds a row), one server with ``batching``
      (max_batch_size 64, max_delay_ms 2) and one without, interleaved over
      rounds; the model's own time for a batch of 64 is measured in-process,
      since the issue's bar is p99 <= max_delay_ms + that batch time;
  (h) gRPC against REST: the same batch-1 request on the quickstart model over
      the V2 gRPC service and over HTTP, 8 concurrent clients each, from
      Python load generators in a separate process (tritonclient's gRPC stubs,
      raw HTTP/1.1 keep-alive), so both pay a Python client.

Writes ``bench/results/serve_modes.json``; ``python bench/serve.py`` runs it
after its own rounds (not with ``--smoke``).

    python bench/serve_modes.py               # 3 rounds of 10 s each
    python bench/serve_modes.py --seconds 3 --rounds 1
    python bench/serve_modes.py --only batching
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "serve_modes.json"
QUICKSTART = ROOT / "examples" / "quickstart" / "models" / "sentiment-v1.onnx"
FEATURES = [3.0, 0.0, 0.0, 1.0, 0.0, 0.3828, 0.0, 0.0]
WIDTH_IN, HIDDEN, WIDTH_OUT = 256, 1024, 16
BATCHING = {"max_batch_size": 64, "max_delay_ms": 2.0}
CLIENTS = 64

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve  # noqa: E402  (bench/serve.py: wrk's script, CPU time from /proc)


def write_mlp(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    dims = [WIDTH_IN, HIDDEN, HIDDEN, WIDTH_OUT]
    nodes, inits, prev = [], [], "x"
    for i, (a, b) in enumerate(zip(dims, dims[1:])):
        inits += [numpy_helper.from_array((rng.normal(0, 1 / np.sqrt(a), (a, b))).astype(np.float32), f"w{i}"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [prev, f"w{i}", f"b{i}"], [f"h{i}"]))
        prev = f"h{i}"
        if b != WIDTH_OUT:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["y"], axis=-1))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", WIDTH_IN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", WIDTH_OUT])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def batch_time_ms(model: Path, rows: int, calls: int = 200) -> dict[str, float]:
    from mlform.providers.server.runners import load_runner

    runner = load_runner(model, "onnx", "none")
    x = np.random.default_rng(1).normal(size=(rows, WIDTH_IN)).astype(np.float32)
    for _ in range(10):
        runner.run({"x": x})
    lat = []
    for _ in range(calls):
        t0 = time.perf_counter()
        runner.run({"x": x})
        lat.append((time.perf_counter() - t0) * 1000)
    return {"rows": rows, "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99))}


def wrk(url: str, body: str, seconds: float, connections: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(serve.WRK_LUA % body)
    try:
        out = subprocess.run(
            ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
             "-s", f.name, url], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    r = json.loads(next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))[11:])
    r["rps"] = r["requests"] / r["duration_s"]
    return r


async def _open_load(url: str, body: bytes, rate: float, seconds: float,
                     connections: int = CLIENTS) -> dict[str, Any]:
    """Open loop: request i is due at start + i / rate, whatever the answers before it;
    ``connections`` keep-alive connections take the due requests in turn. Latency is
    measured from the due time, so a late answer also counts for the requests queued
    behind it; ``late`` is how long after its due time the client sent (its own error)."""
    from urllib.parse import urlsplit

    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    req = (f"POST {u.path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    total = int(rate * seconds)
    lat, late = np.zeros(total), np.zeros(total)
    errors = 0
    nxt = 0
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def conn() -> None:
        nonlocal nxt, errors
        r, w = await asyncio.open_connection(host, port)
        while nxt < total:
            i, nxt = nxt, nxt + 1
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            late[i] = loop.time() - due
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await r.readexactly(length)
            lat[i] = loop.time() - due
            errors += not head.startswith(b"HTTP/1.1 200")
        w.close()

    await asyncio.gather(*(conn() for _ in range(connections)))
    took = loop.time() - start
    a, b = lat * 1000, late * 1000
    return {"rate": rate, "requests": total, "duration_s": took, "errors": errors,
            "rps": total / took, "p50_ms": float(np.percentile(a, 50)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()),
            "late_p99_ms": float(np.percentile(b, 99))}


def open_loop(url: str, body: str, rate: float, seconds: float) -> dict[str, Any]:
    """:func:`_open_load` in a separate process (uvloop when installed)."""
    out = subprocess.run([sys.executable, __file__, "_open", url, str(rate), str(seconds)],
                         input=body, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out))


def batching(work: Path, seconds: float, rounds: int,
             open_fraction: float = 0.5) -> dict[str, Any]:
    from mlform.providers.local.process import start_server, stats, stop_server
    from mlform.providers.server.config import VersionSpec

    model = write_mlp(work / "mlp.onnx")
    x = np.random.default_rng(2).normal(size=WIDTH_IN).round(4).tolist()
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, WIDTH_IN], "datatype": "FP32",
                                   "data": x}]}, separators=(",", ":"))
    handles = {"unbatched": start_server("mlp-plain", work, [VersionSpec("v1", str(model))],
                                         gpus="none"),
               "batched": start_server("mlp-batched", work, [VersionSpec("v1", str(model))],
                                       gpus="none", extra_config={"batching": BATCHING})}
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in handles}
    try:
        for h in handles.values():
            wrk(h.url + "/v2/models/" + h.name + "/infer", body, 1.0, CLIENTS)
        for _ in range(rounds):
            for key, h in handles.items():
                pid = h.server_pid or h.pid  # the server, not its supervisor
                c0 = serve.cpu_seconds(pid)
                r = wrk(h.url + f"/v2/models/{h.name}/infer", body, seconds, CLIENTS)
                r["server_cpu_us_per_request"] = ((serve.cpu_seconds(pid) - c0)
                                                  / max(r["requests"], 1) * 1e6)
                # Server-side latency of this run (decode, batch queue, run, encode):
                # the client's p99 also holds the wait for the server under a closed loop.
                st = stats(h.url, h.token, seconds)
                r["server_p50_ms"], r["server_p99_ms"] = st.p50_ms, st.p99_ms
                runs[key].append(r)
        med = {k: sorted(v, key=lambda r: r["rps"])[len(v) // 2] for k, v in runs.items()}
        # Below saturation: the same fixed rate to both servers, interleaved.
        rate = round(open_fraction * med["unbatched"]["rps"], -1)
        opened: dict[str, list[dict[str, Any]]] = {k: [] for k in handles}
        for _ in range(rounds):
            for key, h in handles.items():
                r = open_loop(h.url + f"/v2/models/{h.name}/infer", body, rate, seconds)
                st = stats(h.url, h.token, seconds)
                r["server_p50_ms"], r["server_p99_ms"] = st.p50_ms, st.p99_ms
                opened[key].append(r)
        import httpx
        metrics = httpx.get(handles["batched"].url + "/metrics", trust_env=False).text
    finally:
        for h in handles.values():
            stop_server(h)
    open_med = {k: sorted(v, key=lambda r: r["p99_ms"])[len(v) // 2] for k, v in opened.items()}
    count = total = 0.0
    for line in metrics.splitlines():
        if line.startswith("mlform_inference_batch_size_count"):
            count = float(line.rsplit(" ", 1)[1])
        elif line.startswith("mlform_inference_batch_size_sum"):
            total = float(line.rsplit(" ", 1)[1])
    bt = batch_time_ms(model, BATCHING["max_batch_size"])
    return {"model": f"MLP {WIDTH_IN}-{HIDDEN}-{HIDDEN}-{WIDTH_OUT}", "clients": CLIENTS,
            "batching": BATCHING, "median": med, "runs": runs,
            "open_rate": rate, "open_median": open_med, "open_runs": opened,
            "throughput_ratio": med["batched"]["rps"] / med["unbatched"]["rps"],
            "mean_requests_per_execution": total / count if count else None,
            "batch_time": bt, "batch_time_1": batch_time_ms(model, 1),
            "p99_bound_ms": BATCHING["max_delay_ms"] + bt["p99_ms"]}


async def _grpc_load(target: str, seconds: float, connections: int = 8) -> dict[str, Any]:
    """Batch-1 ModelInfer calls on the quickstart model from ``connections`` concurrent
    callers over one channel each; the request is serialized once (tritonclient's stubs)."""
    import grpc
    from tritonclient.grpc import service_pb2

    req = service_pb2.ModelInferRequest(model_name="sentiment")
    req.inputs.add(name="features", datatype="FP32", shape=[1, 8])
    req.raw_input_contents.append(np.asarray(FEATURES, dtype="<f4").tobytes())
    body = req.SerializeToString()
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal errors
        async with grpc.aio.insecure_channel(target) as channel:
            call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    await call(body)
                except grpc.RpcError:
                    errors += 1
                lat.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(connections)))
    took = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"requests": len(lat), "duration_s": took, "errors": errors, "rps": len(lat) / took,
            "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}


def grpc_vs_rest(work: Path, seconds: float, rounds: int) -> dict[str, Any]:
    from mlform.providers.local.process import info, start_server, stop_server
    from mlform.providers.server.config import VersionSpec

    h = start_server("sentiment", work, [VersionSpec("v1", str(QUICKSTART))], gpus="none",
                     extra_config={"grpc_port": 0})
    target = f"127.0.0.1:{info(h.url, h.token)['grpc_port']}"
    runs: dict[str, list[dict[str, Any]]] = {"rest": [], "grpc": []}
    try:
        def grpc_run(secs: float) -> dict[str, Any]:
            out = subprocess.run([sys.executable, __file__, "_grpc", target, str(secs)],
                                 capture_output=True, text=True, check=True).stdout
            return dict(json.loads(out))
        grpc_run(1.0)
        serve.run_python_load(h.url, 1.0)
        for _ in range(rounds):
            for key, load in (("rest", lambda: serve.run_python_load(h.url, seconds)),
                              ("grpc", lambda: grpc_run(seconds))):
                pid = h.server_pid or h.pid  # the server, not its supervisor
                c0 = serve.cpu_seconds(pid)
                r = load()
                r["server_cpu_us_per_request"] = ((serve.cpu_seconds(pid) - c0)
                                                  / max(r["requests"], 1) * 1e6)
                runs[key].append(r)
    finally:
        stop_server(h)
    med = {k: sorted(v, key=lambda r: r["rps"])[len(v) // 2] for k, v in runs.items()}
    return {"clients": 8, "median": med, "runs": runs,
            "grpc_to_rest": med["grpc"]["rps"] / med["rest"]["rps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--open-fraction", type=float, default=0.5,
                    help="open-loop rate as a fraction of the unbatched closed-loop req/s")
    ap.add_argument("--only", choices=("batching", "grpc"))
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                              "machine": serve.machine(), "load_average": os.getloadavg()}
    if not shutil.which("wrk"):
        raise SystemExit("bench/serve_modes.py needs wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "grpc":
            report["batching"] = batching(Path(tmp), args.seconds, args.rounds,
                                          args.open_fraction)
        if args.only != "batching":
            report["grpc_vs_rest"] = grpc_vs_rest(Path(tmp), args.seconds, args.rounds)
    report["load_average_after"] = os.getloadavg()
    if "batching" in report:
        print_batching(report, args.seconds, args.rounds)
    if "grpc_vs_rest" in report:
        print_grpc(report["grpc_vs_rest"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def print_batching(report: dict[str, Any], seconds: float, rounds: int) -> None:
    g = report["batching"]
    print(f"\n(g) adaptive batching, {g['model']}, {CLIENTS} clients (wrk -c{CLIENTS}), "
          f"{seconds:g}s x {rounds}, load average {report['load_average'][0]:.1f} before, "
          f"{report['load_average_after'][0]:.1f} after")
    print(f"{'server':12s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'server p50':>10s} "
          f"{'server p99':>10s} {'CPU us/req':>10s}")
    for key, r in g["median"].items():
        print(f"{key:12s} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['server_p50_ms']:10.2f} {r['server_p99_ms']:10.2f} "
              f"{r['server_cpu_us_per_request']:10.1f}")
    print(f"throughput batched / unbatched: {g['throughput_ratio']:.2f} (target >= 2); "
          f"{g['mean_requests_per_execution'] or 0:.1f} requests per execution")
    print(f"model time, batch of {g['batch_time']['rows']}: p50 {g['batch_time']['p50_ms']:.2f} "
          f"ms, p99 {g['batch_time']['p99_ms']:.2f} ms (batch of 1: p50 "
          f"{g['batch_time_1']['p50_ms']:.2f} ms); p99 bound max_delay + batch time = "
          f"{g['p99_bound_ms']:.2f} ms, batched p99 {g['median']['batched']['p99_ms']:.2f} ms "
          f"(server-side {g['median']['batched']['server_p99_ms']:.2f} ms) at saturation")
    print(f"open loop at {g['open_rate']:.0f} req/s (latency from the scheduled send time; "
          f"median round by p99):")
    print(f"{'server':12s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
          f"{'server p99':>10s} {'client late p99':>15s}")
    for key, r in g["open_median"].items():
        print(f"{key:12s} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['max_ms']:8.2f} {r['server_p99_ms']:10.2f} {r['late_p99_ms']:15.2f}")
    print(f"batched p99 {g['open_median']['batched']['p99_ms']:.2f} ms against the bound "
          f"{g['p99_bound_ms']:.2f} ms; failed requests: "
          f"{sum(r['errors'] for rs in (*g['runs'].values(), *g['open_runs'].values()) for r in rs)}")


def print_grpc(h: dict[str, Any]) -> None:
    print(f"\n(h) gRPC vs REST, quickstart model, batch 1, 8 clients (Python load generators)")
    print(f"{'protocol':12s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'CPU us/req':>10s}")
    for key, r in h["median"].items():
        print(f"{key:12s} {r['rps']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
              f"{r['server_cpu_us_per_request']:10.1f}")
    print(f"gRPC / REST throughput: {h['grpc_to_rest']:.2f}; failed requests: "
          f"{sum(r['errors'] for rs in h['runs'].values() for r in rs)}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_grpc":
        print(json.dumps(asyncio.run(_grpc_load(sys.argv[2], float(sys.argv[3])))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_open":
        try:
            import uvloop
            uvloop.install()
        except ImportError:
            pass
        print(json.dumps(asyncio.run(_open_load(sys.argv[2], sys.stdin.read().encode(),
                                                float(sys.argv[3]), float(sys.argv[4])))))
    else:
        main()
