"""Measure a model's latency on this machine, cached by digest (docs/constraints.md)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

_RUNS = 200
# The server adds HTTP and JSON work on top of the model's own time; measured in
# bench/serve.py (docs/performance.md).
SERVER_OVERHEAD_MS = 0.6


def profile_model(path: Path, fmt: str, digest: str, cache_dir: Path, gpus: Any = "auto") -> dict[str, Any] | None:
    """p50/p99 ms and throughput of batch-1 inference; ``None`` if it cannot run here."""
    key = (digest.split(":")[-1] or "nodigest")[:32] + f"-{fmt}-{gpus}"
    cached = cache_dir / f"{key}.json"
    if cached.exists():
        try:
            return json.loads(cached.read_text())  # type: ignore[no-any-return]
        except ValueError:
            pass
    if fmt != "onnx" or not path.is_file():
        return None
    try:
        # The server's own runner: the same execution providers and session options
        # (no busy-spinning intra-op threads, which held both cores of a 2-core
        # machine for the whole profile and starved a live server beside the CLI).
        from mlform.providers.server.runners import OnnxRunner, example_feed

        runner = OnnxRunner(path, gpus)
        feed = example_feed(runner)
        for _ in range(10):
            runner.run(feed)
        times = []
        t_all = time.perf_counter()
        for _ in range(_RUNS):
            t0 = time.perf_counter()
            runner.run(feed)
            times.append((time.perf_counter() - t0) * 1000)
        total = time.perf_counter() - t_all
    except Exception:  # noqa: BLE001 - an unprofilable model just has no estimate
        return None
    device = runner.device
    overhead_ms = SERVER_OVERHEAD_MS
    prof = {"p50_ms": round(float(np.percentile(times, 50)) + overhead_ms, 3),
            "p99_ms": round(float(np.percentile(times, 99)) + overhead_ms, 3),
            "throughput_rps": round(_RUNS / total, 1), "device": device,
            "accelerator": "none" if device == "cpu" else "nvidia", "runs": _RUNS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(prof))
    os.replace(tmp, cached)
    return prof


def cpu_name() -> str:
    """This machine's processor, as /proc/cpuinfo names it (the basis of every measured estimate)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def profile_grid(path: Path, fmt: str, digest: str, cache_dir: Path, gpus: Any, batch_sizes: list[int],
                 threads: list[int], progress: Any = None, runs: int = 40) -> dict[str, Any] | None:
    """One model execution's p50/p99 (ms, no server overhead) at each batch size and intra-op
    thread count, run by the server's own runner; cached by digest and grid. ``None`` if it
    cannot run here."""
    grid = f"b{'-'.join(map(str, batch_sizes))}_t{'-'.join(map(str, threads))}"
    key = (digest.split(":")[-1] or "nodigest")[:32] + f"-{fmt}-{gpus}-{grid}"
    cached = cache_dir / f"grid-{key}.json"
    if cached.exists():
        try:
            return json.loads(cached.read_text())  # type: ignore[no-any-return]
        except ValueError:
            pass
    if fmt != "onnx" or not path.is_file():
        return None
    points: list[dict[str, Any]] = []
    device = "cpu"
    try:
        from mlform.providers.server.runners import OnnxRunner, example_feed

        for i, t in enumerate(threads):
            runner = OnnxRunner(path, gpus, threads=t)
            device = runner.device
            for j, b in enumerate(batch_sizes):
                if progress is not None:
                    progress(f"Profiling batch {b} on {t} thread(s)",
                             fraction=(i * len(batch_sizes) + j) / (len(threads) * len(batch_sizes)))
                feed = example_feed(runner, batch=b)
                for _ in range(5):
                    runner.run(feed)
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    runner.run(feed)
                    times.append((time.perf_counter() - t0) * 1000)
                points.append({"batch_size": b, "threads": t, "p50_ms": round(float(np.percentile(times, 50)), 4),
                               "p99_ms": round(float(np.percentile(times, 99)), 4)})
    except Exception:  # noqa: BLE001 - an unprofilable model just has no estimate
        return None
    prof = {"points": points, "device": device, "accelerator": "none" if device == "cpu" else "nvidia",
            "cpu": cpu_name(), "overhead_ms": SERVER_OVERHEAD_MS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(prof))
    os.replace(tmp, cached)
    return prof
