"""Docker provider benchmark: what serving in a container costs against the same server on local.

Same run, same machine, the quickstart's v1 model, mlform's V2 server
(``python -m mlform.providers.server``) started three ways:

  1. local: a process on this machine (what the local provider runs);
  2. container: the server in a container (the docker provider's version
     container: this machine's Python bind-mounted read-only into a tiny image,
     port published on 127.0.0.1 through docker's proxy);
  3. router: the container behind the endpoint's router container
     (``python -m mlform.providers.server.proxy``), the endpoint's stable URL.

Figures: start-to-ready (from the start call until ``/v2/health/ready``
answers 200; the median of ``--starts`` starts) and throughput (closed-loop
keep-alive clients posting the quickstart row for ``--seconds``), each also as
a ratio to local's measured in the same run. The engine is a ``dockerd`` of
the bench's own (its own data root and socket under a temp dir), unless
``--host`` names one. Writes ``bench/results/docker.json``.

    python bench/docker.py            # 5 starts, 5 s of load per target
    python bench/docker.py --smoke    # 1 start, 1 s per target, for CI
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

# This file is named docker.py: its own folder (first on sys.path) must not shadow the docker SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "examples" / "quickstart" / "models" / "sentiment-v1.onnx"
ROW = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}
IMAGE = "mlform-bench-tiny:1"


def start_engine(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = tmp / "docker.sock"
    proc = subprocess.Popen(["dockerd", "--data-root", str(tmp / "data"), "--exec-root", str(tmp / "exec"),
                             "-H", f"unix://{sock}", "--pidfile", str(tmp / "pid"), "--bridge=none"],
                            stdout=open(tmp / "dockerd.log", "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, f"unix://{sock}"


def tiny_image(client: Any) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("usr", "etc", "tmp", "proc", "sys", "dev", "root"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    client.api.import_image_from_data(buf.getvalue(), repository=IMAGE.split(":")[0], tag="1")


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2) as c:
        while time.monotonic() < deadline:
            try:
                if c.get(url + "/v2/health/ready").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
    raise SystemExit(f"{url} was not ready within {timeout}s")


def throughput(url: str, seconds: float, clients: int = 4) -> float:
    counts = [0] * clients
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        with httpx.Client(trust_env=False, timeout=10) as c:
            while time.monotonic() < stop:
                r = c.post(url + "/v2/models/m/infer", json=ROW)
                if r.status_code != 200:
                    errors.append(r.text[:80])
                counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit(f"{url}: {len(errors)} failed requests, e.g. {errors[0]}")
    return sum(counts) / seconds


def server_config(tmp: Path, name: str, port: int) -> Path:
    from mlform.providers.server.config import ServerConfig, VersionSpec

    path = tmp / f"{name}.json"
    ServerConfig(name="m", token=secrets.token_urlsafe(16), host="0.0.0.0" if port == 8000 else "127.0.0.1",
                 port=port, versions=[VersionSpec("v1", str(MODEL))], gpus="none").save(path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--host", help="a Docker engine to use instead of starting one")
    ap.add_argument("--starts", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    starts, seconds = (1, 1.0) if args.smoke else (args.starts, args.seconds)
    import docker

    tmp = Path(tempfile.mkdtemp(prefix="mlf-bench-", dir="/tmp"))
    engine = None
    host = args.host
    if host is None:
        if shutil.which("dockerd") is None:
            print("dockerd is not on PATH: install docker.io, or pass --host", file=sys.stderr)
            return 1
        engine, host = start_engine(tmp)
    client = docker.DockerClient(base_url=host, version="1.41", timeout=60)
    out: dict[str, Any] = {}
    try:
        tiny_image(client)
        client.networks.create("mlf-bench", driver="bridge")
        mounts = {p: {"bind": p, "mode": "ro"} for p in {"/usr", sys.base_prefix, sys.prefix, str(ROOT), str(tmp)}}

        def local_start() -> tuple[float, Any, str]:
            from socket import socket

            with socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            cfg = server_config(tmp, f"local{port}", port)
            t0 = time.perf_counter()
            p = subprocess.Popen([sys.executable, "-m", "mlform.providers.server", "--config", str(cfg)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            wait_ready(url)
            return time.perf_counter() - t0, p, url

        def container_start(name: str) -> tuple[float, Any, str]:
            cfg = server_config(tmp, name, 8000)
            t0 = time.perf_counter()
            c = client.containers.run(IMAGE, [sys.executable, "-m", "mlform.providers.server", "--config", str(cfg)],
                                      name=name, detach=True, network="mlf-bench", volumes=mounts,
                                      ports={"8000/tcp": ("127.0.0.1", None)})
            c.reload()
            url = f"http://127.0.0.1:{c.attrs['NetworkSettings']['Ports']['8000/tcp'][0]['HostPort']}"
            wait_ready(url)
            return time.perf_counter() - t0, c, url

        local_s, container_s = [], []
        for i in range(starts):
            s, p, url_local = local_start()
            local_s.append(s)
            if i < starts - 1:
                p.terminate()
                p.wait()
            s, c, url_ctr = container_start(f"mlf-bench-{i}")
            container_s.append(s)
            if i < starts - 1:
                c.remove(force=True)
        rcfg = tmp / "router.json"
        rcfg.write_text(json.dumps({"name": "m", "token": "t", "port": 8000,
                                    "versions": {"v1": [f"http://mlf-bench-{starts - 1}:8000"]}}))
        r = client.containers.run(IMAGE, [sys.executable, "-m", "mlform.providers.server.proxy", "--config", str(rcfg)],
                                  name="mlf-bench-router", detach=True, network="mlf-bench", volumes=mounts,
                                  ports={"8000/tcp": ("127.0.0.1", None)})
        r.reload()
        url_router = f"http://127.0.0.1:{r.attrs['NetworkSettings']['Ports']['8000/tcp'][0]['HostPort']}"
        wait_ready(url_router)
        rps = {k: throughput(u, seconds) for k, u in
               (("local", url_local), ("container", url_ctr), ("router", url_router))}
        p.terminate()
        p.wait()
        ready = {"local": statistics.median(local_s), "container": statistics.median(container_s)}
        out = {"starts": starts, "seconds": seconds, "start_to_ready_s": ready,
               "start_ratio_container_to_local": ready["container"] / ready["local"],
               "throughput_rps": rps, "throughput_ratio_to_local": {k: v / rps["local"] if rps["local"] else 0.0
                                                                    for k, v in rps.items()},
               "load_average": os.getloadavg()[0]}
    finally:
        for c in client.containers.list(all=True):
            c.remove(force=True)
        for n in client.networks.list(names=["mlf-bench"]):
            n.remove()
        client.close()
        if engine is not None:
            engine.send_signal(signal.SIGTERM)
            engine.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"start to ready: local {out['start_to_ready_s']['local']:.2f}s, container "
          f"{out['start_to_ready_s']['container']:.2f}s ({out['start_ratio_container_to_local']:.2f}x local)")
    print(f"(1-minute load average at the end: {out['load_average']:.1f}; a loaded machine skews every figure)")
    for k, v in out["throughput_rps"].items():
        print(f"throughput {k:9s} {v:8.0f} req/s ({out['throughput_ratio_to_local'][k]:.2f}x local)")
    if not args.smoke:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        (ROOT / "bench" / "results" / "docker.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_PROXY", "127.0.0.1")
    sys.exit(main())
