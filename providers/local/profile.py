"""Measure a model's latency on this machine, cached by digest (docs/constraints.md)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

_RUNS = 200


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
    # The server adds HTTP and JSON work on top of the model's own time; the
    # factor is measured in bench/serve.py (docs/performance.md).
    overhead_ms = 0.6
    prof = {"p50_ms": round(float(np.percentile(times, 50)) + overhead_ms, 3),
            "p99_ms": round(float(np.percentile(times, 99)) + overhead_ms, 3),
            "throughput_rps": round(_RUNS / total, 1), "device": device,
            "accelerator": "none" if device == "cpu" else "nvidia", "runs": _RUNS}
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(prof))
    os.replace(tmp, cached)
    return prof
