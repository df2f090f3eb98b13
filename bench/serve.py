"""Serving benchmark: mlform's server against a minimal starlette + onnxruntime app.

Measures, on the quickstart model with one V2 infer request body:

  (a) mlform's server, started through ``process.start_server``;
  (b) a minimal starlette + onnxruntime app (defined below, ``minimal_app``),
      run by the same uvicorn with the same HTTP/loop implementation;
      (b2) the same app with onnxruntime's intra-op spinning off, as mlform
      runs it, to show what that setting alone is worth (not in --smoke);
  (c) ``session.run`` called in-process (the ceiling), and mlform's V2
      decode + run + encode in-process (what the app adds before HTTP);
  (d) each app called as ASGI in-process, no HTTP server: CPU time per
      request of the app layer alone, where (a) and (b) differ. It is the
      steadiest figure on a shared machine.

Load comes from a separate process with 8 concurrent keep-alive connections
for a bounded time: ``wrk`` (Debian package) when installed, else a small
asyncio load generator in this file (``--loadgen python`` forces it). The
(a)/(b) runs are interleaved over ``--rounds`` and the median round is
reported, so both see the same machine state. Prints a table and writes
``bench/results/serve.json``; then (not with ``--smoke``) runs
``bench/serve_modes.py``: adaptive batching at 64 clients, gRPC vs REST.

    python bench/serve.py            # 3 rounds of 10 s each
    python bench/serve.py --smoke    # about 10 s in all, for CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "quickstart" / "models" / "sentiment-v1.onnx"
RESULTS = ROOT / "bench" / "results" / "serve.json"
PATH = "/v2/models/sentiment/infer"
FEATURES = [3.0, 0.0, 0.0, 1.0, 0.0, 0.3828, 0.0, 0.0]
BODY = json.dumps({"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32",
                               "data": FEATURES}]}, separators=(",", ":"))
CONNECTIONS = 8


# --- (b) the minimal app: what a person writes in ten lines ---------------------

def build_minimal_app(model: str, spinning: str = "1") -> Any:
    """The minimal app: what a person writes in ten lines."""
    import onnxruntime as ort
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    opts = ort.SessionOptions()
    if spinning == "0":  # the (b2) variant: onnxruntime tuned as mlform tunes it
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    async def infer(request: Request) -> JSONResponse:
        body = await request.json()
        inp = body["inputs"][0]
        x = np.asarray(inp["data"], dtype=np.float32).reshape(inp["shape"])
        (y,) = sess.run(None, {inp["name"]: x})
        return JSONResponse({"model_name": "sentiment", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": list(y.shape),
             "data": y.ravel().tolist()}]})

    return Starlette(routes=[Route(PATH, infer, methods=["POST"])])


def minimal_app(model: str, status_file: str, http: str, loop: str, spinning: str = "1") -> None:
    import uvicorn

    app = build_minimal_app(model, spinning)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see __main__
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    Path(status_file).write_text(json.dumps({"port": sock.getsockname()[1]}))
    config = uvicorn.Config(app, access_log=False, log_level="warning", http=http, loop=loop,
                            lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


# --- load generators ---------------------------------------------------------

WRK_LUA = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %%d, "duration_s": %%f, "errors": %%d, "p50_ms": %%f, ' ..
    '"p99_ms": %%f, "max_ms": %%f}\\n',
    summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(load: Any, url: str, pid: int, seconds: float) -> dict[str, Any]:
    """One load run, plus the server's CPU time per request (steadier than req/s on a
    shared machine)."""
    c0 = cpu_seconds(pid)
    r = load(url, seconds)
    r["server_cpu_us_per_request"] = (cpu_seconds(pid) - c0) / max(r["requests"], 1) * 1e6
    return r


def run_wrk(url: str, seconds: float) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA % BODY)
    try:
        out = subprocess.run(
            ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout",
             "5s", "-s", f.name, url + PATH], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCH_JSON "))
    r = json.loads(line.split(" ", 1)[1])
    r["rps"] = r["requests"] / r["duration_s"]
    return r


async def _py_load(host: str, port: int, seconds: float) -> dict[str, Any]:
    req = (f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(BODY)}\r\n\r\n{BODY}").encode()
    lat: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def conn() -> None:
        nonlocal errors
        r, w = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await r.readexactly(length)
            lat.append(time.perf_counter() - t0)
            errors += not head.startswith(b"HTTP/1.1 200")
        w.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(CONNECTIONS)))
    took = time.perf_counter() - t0
    a = np.array(lat) * 1000
    return {"requests": len(lat), "duration_s": took, "errors": errors, "rps": len(lat) / took,
            "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99)),
            "max_ms": float(a.max())}


def run_python_load(url: str, seconds: float) -> dict[str, Any]:
    host, port = url.rsplit("/", 1)[1].split(":")
    out = subprocess.run([sys.executable, __file__, "_load", host, port, str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


# --- (c) in-process ceilings ---------------------------------------------------

def in_process(seconds: float) -> dict[str, Any]:
    import onnxruntime as ort

    from mlform.providers.server.runners import load_runner
    from mlform.providers.server.codec import decode_request, encode_response

    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    x = np.asarray([FEATURES], dtype=np.float32)
    runner = load_runner(MODEL, "onnx", "none")
    specs = {s.name: s for s in runner.inputs}
    outs = frozenset(s.name for s in runner.outputs)
    body = BODY.encode()

    def ort_call() -> None:
        sess.run(None, {"features": x})

    def v2_call() -> None:
        feed, names, rid, _ = decode_request(body, specs, outs)
        encode_response("sentiment", "v1", rid, runner.run(feed, names))

    result = {}
    for name, fn in (("onnxruntime", ort_call), ("mlform_codec_and_run", v2_call)):
        lat = []
        stop = time.perf_counter() + seconds / 2
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            fn()
            lat.append(time.perf_counter() - t0)
        a = np.array(lat) * 1000
        result[name] = {"calls": len(lat), "rps": len(lat) / a.sum() * 1000,
                        "p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}
    return result


def asgi_in_process(calls: int) -> dict[str, Any]:
    """CPU time per request of each app alone, called as ASGI with no HTTP server: the
    part where (a) and (b) differ, measured without the load generator's noise."""
    from mlform.providers.server.app import ServerState, create_app
    from mlform.providers.server.config import ServerConfig, VersionSpec
    from mlform.providers.server.router import Router, load_version

    router = Router()
    router.add(load_version(VersionSpec("v1", str(MODEL)), "none", 1 << 18))
    apps = {"mlform": create_app(ServerState(ServerConfig("sentiment", "-"), router)),
            "minimal": build_minimal_app(str(MODEL))}
    body = BODY.encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": PATH, "raw_path": PATH.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 2), "headers": [(b"content-type", b"application/json"),
                                                     (b"content-length", str(len(body)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"in-process ASGI call answered {message['status']}")

    async def drive(app: Any, n: int) -> float:
        t0 = time.process_time()
        for _ in range(n):
            await app(dict(scope), receive, send)
        return (time.process_time() - t0) / n * 1e6

    async def all_apps() -> dict[str, Any]:
        best = {k: float("inf") for k in apps}
        for _ in range(3):  # interleaved; the best of three is the least disturbed
            for k, app in apps.items():
                best[k] = min(best[k], await drive(app, calls))
        return {k: {"cpu_us_per_request": v} for k, v in best.items()}

    return asyncio.run(all_apps())


# --- driver --------------------------------------------------------------------

def start_minimal(workdir: Path, http: str, loop: str, spinning: str = "1"
                  ) -> tuple[subprocess.Popen[bytes], str]:
    status = workdir / f"minimal-{spinning}.json"
    proc = subprocess.Popen([sys.executable, __file__, "_minimal", str(MODEL), str(status),
                             http, loop, spinning], start_new_session=True)
    deadline = time.monotonic() + 30
    while not status.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the minimal app did not start")
        time.sleep(0.05)
    time.sleep(0.3)
    return proc, f"http://127.0.0.1:{json.loads(status.read_text())['port']}"


def machine() -> dict[str, Any]:
    import onnxruntime
    import starlette
    import uvicorn
    cpu = platform.processor() or ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                   if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"python": platform.python_version(), "uvicorn": uvicorn.__version__,
                "starlette": starlette.__version__, "onnxruntime": onnxruntime.__version__}
    for mod in ("httptools", "uvloop"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            versions[mod] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "versions": versions}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="about 10 s in all, for CI")
    ap.add_argument("--seconds", type=float, default=10.0, help="load time per run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--http", default="auto", help="uvicorn HTTP implementation for both apps")
    ap.add_argument("--loop", default="auto", help="event loop for both apps")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    if args.smoke:
        args.seconds, args.rounds = 2.0, 1
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk"))
    load = run_wrk if use_wrk else run_python_load
    loadgen = (f"wrk -t1 -c{CONNECTIONS}" if use_wrk
               else f"python asyncio load generator, {CONNECTIONS} connections")

    from mlform.providers.local.process import start_server, stop_server
    from mlform.providers.server.__main__ import resolve_impl
    from mlform.providers.server.config import VersionSpec

    http, loop = resolve_impl(args.http, "httptools", "h11"), resolve_impl(args.loop, "uvloop", "asyncio")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        handle = start_server("sentiment", work, [VersionSpec("v1", str(MODEL))], gpus="none",
                              extra_config={"http": http, "loop": loop})
        targets = {"minimal": start_minimal(work, http, loop)}
        if not args.smoke:
            targets["minimal_no_spin"] = start_minimal(work, http, loop, spinning="0")
        pids = {"mlform": handle.server_pid or handle.pid,  # the server, not its supervisor
                **{k: p.pid for k, (p, _) in targets.items()}}
        urls = {"mlform": handle.url, **{k: u for k, (_, u) in targets.items()}}
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in urls}
        try:
            for url in urls.values():  # warm-up, not recorded
                load(url, 1.0)
            for _ in range(args.rounds):
                for key in runs:
                    runs[key].append(measure(load, urls[key], pids[key], args.seconds))
        finally:
            stop_server(handle)
            for proc, _ in targets.values():
                proc.terminate()
                proc.wait(10)
    ceiling = in_process(min(args.seconds, 4.0))
    asgi = asgi_in_process(2000 if args.smoke else 20000)

    def median(rs: list[dict[str, Any]]) -> dict[str, Any]:
        return sorted(rs, key=lambda r: r["rps"])[len(rs) // 2]

    med = {k: median(v) for k, v in runs.items()}
    ratio = med["mlform"]["rps"] / med["minimal"]["rps"]
    rows = [("(a) mlform server", med["mlform"], f"{ratio:.3f}"),
            ("(b) minimal starlette+ort", med["minimal"], "1.000")]
    if "minimal_no_spin" in med:
        rows.append(("(b2) minimal, ort spinning off", med["minimal_no_spin"],
                     f"{med['minimal_no_spin']['rps'] / med['minimal']['rps']:.3f}"))
    rows += [("(c) ort in-process", ceiling["onnxruntime"], "-"),
             ("(c) mlform codec+run in-process", ceiling["mlform_codec_and_run"], "-")]
    print(f"\nload: {loadgen}, {args.seconds:g}s x {args.rounds} round(s), http={http}, "
          f"loop={loop}")
    print(f"{'target':34s} {'req/s':>10s} {'p50 ms':>8s} {'p99 ms':>8s} {'vs (b)':>7s} "
          f"{'CPU us/req':>10s}")
    for name, r, rel in rows:
        cpu = r.get("server_cpu_us_per_request")
        print(f"{name:34s} {r['rps']:10.0f} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f} {rel:>7s} "
              f"{(f'{cpu:.1f}' if cpu else '-'):>10s}")
    print(f"app layer alone (ASGI in-process, CPU us/request): mlform "
          f"{asgi['mlform']['cpu_us_per_request']:.1f}, minimal "
          f"{asgi['minimal']['cpu_us_per_request']:.1f}")
    errors = sum(r["errors"] for rs in runs.values() for r in rs)
    print(f"failed requests: {errors}")
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
              "load_generator": loadgen, "connections": CONNECTIONS, "seconds": args.seconds,
              "rounds": args.rounds, "http": http, "loop": loop, "smoke": args.smoke,
              "median": med, "runs": runs, "in_process": ceiling, "asgi_in_process": asgi,
              "ratio_mlform_to_minimal": ratio, "failed_requests": errors}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    if not args.smoke:  # (g) adaptive batching at 64 clients, (h) gRPC vs REST
        subprocess.run([sys.executable, str(Path(__file__).with_name("serve_modes.py")),
                        "--seconds", str(args.seconds), "--rounds", str(args.rounds)], check=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_minimal":
        minimal_app(*sys.argv[2:7])
    elif len(sys.argv) > 1 and sys.argv[1] == "_load":
        print(json.dumps(asyncio.run(_py_load(sys.argv[2], int(sys.argv[3]),
                                              float(sys.argv[4])))))
    else:
        main()
