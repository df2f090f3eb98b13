"""Walk a dependency graph concurrently.

Each node starts as soon as its own dependencies finish (no generation
barriers, as Terraform's ``dag/walk.go``). Nodes downstream of a failure are
skipped, and reported once, by the node that failed.
"""

from __future__ import annotations

import graphlib
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class WalkResult:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node -> the failed node it depended on


def walk(deps: dict[str, set[str]], visit: Callable[[str], bool], parallelism: int = 10,
         stop: threading.Event | None = None) -> WalkResult:
    """Run ``visit(node)`` for every node after all of ``deps[node]``.

    ``visit`` returns True on success. A node whose dependency failed or was
    skipped is skipped. The caller must have checked ``deps`` for cycles.
    """
    ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for n, ds in deps.items():
        ts.add(n, *ds)
    ts.prepare()
    res = WalkResult()
    blocked: dict[str, str] = {}
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        running: dict[Future[bool], str] = {}
        # Finished futures arrive here: waiting on every running future at once
        # (concurrent.futures.wait) costs O(running) per completion, O(N^2) for
        # N independent resources (5,000 prompts: most of the apply).
        completed: queue.SimpleQueue[Future[bool]] = queue.SimpleQueue()

        def launch() -> None:
            for n in ts.get_ready():
                cause = next((blocked[d] for d in deps.get(n, ()) if d in blocked), None)
                if cause is not None or (stop is not None and stop.is_set()):
                    with lock:
                        blocked[n] = cause or "interrupted"
                        res.skipped[n] = blocked[n]
                    ts.done(n)
                    continue
                fut = pool.submit(visit, n)
                running[fut] = n
                fut.add_done_callback(completed.put)

        launch()
        while running or ts.is_active():
            if not running:
                launch()
                if not running:
                    break
                continue
            finished = [completed.get()]
            while True:
                try:
                    finished.append(completed.get_nowait())
                except queue.Empty:
                    break
            for f in finished:
                n = running.pop(f)
                try:
                    ok = f.result()
                except BaseException:  # noqa: BLE001 - a bug in visit must not hang the walk
                    ok = False
                with lock:
                    if ok:
                        res.done.append(n)
                    else:
                        res.failed.append(n)
                        blocked[n] = n
                ts.done(n)
            launch()
    return res
