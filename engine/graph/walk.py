"""The one graph walker: every operation visits its graph's nodes through :func:`walk`.

Terraform runs validate, plan and apply as walks of graphs by one walker
(``dag.Walk``), each operation visiting the nodes its own way. mlform does
the same:

* **validate** and **plan** walk the configuration graph
  (:func:`mlform.engine.graph.build.build_graph`: variables, locals,
  providers, resource blocks, outputs) *inline*, in the calling thread, in
  the graph's topological order, because they share one evaluation context
  (not thread-safe) and their diagnostics must come out in a stable order;
* **apply** walks the instance graph of a plan (the same dependencies,
  expanded to the planned changes; :func:`mlform.engine.apply.applier.apply_graph`)
  with up to ``--parallelism`` visits at once, each node starting as soon as
  its own dependencies finish (no generation barriers, as ``dag/walk.go``).

Both schedules share the rule for failures: ``visit`` returns False for a
node that failed, and the nodes downstream of it are skipped and reported
once, by the node that failed. Evaluation visits return False only when
nothing downstream can be evaluated; a failed resource there is marked
ERRORED in the context instead, so what reads it adds no error of its own
while independent mistakes further down are still found.
"""

from __future__ import annotations

import graphlib
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from mlform.engine.graph.digraph import CycleError, DiGraph


@dataclass
class WalkResult:
    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node -> the failed node it depended on


Visit = Callable[[str], bool]


def walk(g: DiGraph, visit: Visit, *, parallelism: int | None = None,
         stop: threading.Event | None = None) -> WalkResult:
    """Run ``visit(node)`` for every node of ``g`` after all of its predecessors.

    ``parallelism=None``: inline, in the calling thread, in the order of
    :func:`~mlform.engine.graph.digraph.topological_sort` (generation by
    generation). A number: on that many worker threads. ``visit`` returns
    True on success; a node whose predecessor failed or was skipped is
    skipped (so is every node not yet started once ``stop`` is set). Raises
    :class:`~mlform.engine.graph.digraph.CycleError` on a cycle (graphs are
    checked for cycles, with a diagnostic, when they are built).
    """
    if parallelism is None:
        return _walk_inline(g, visit, stop)
    return _walk_pool(g, visit, parallelism, stop)


def _walk_inline(g: DiGraph, visit: Visit, stop: threading.Event | None) -> WalkResult:
    res = WalkResult()
    blocked: dict[str, str] = {}
    indegree = {n: sum(1 for _ in g.predecessors(n)) for n in g}
    gen = [n for n, d in indegree.items() if d == 0]
    seen = 0
    while gen:
        nxt: list[str] = []
        for n in gen:
            seen += 1
            cause = next((blocked[p] for p in g.predecessors(n) if p in blocked), None)
            if cause is not None or (stop is not None and stop.is_set()):
                blocked[n] = res.skipped[n] = cause or "interrupted"
            else:
                ok = visit(n)  # inline: an exception is the caller's, as raised
                (res.done if ok else res.failed).append(n)
                if not ok:
                    blocked[n] = n
            for child in g.successors(n):
                indegree[child] -= 1
                if indegree[child] == 0:
                    nxt.append(child)
        gen = nxt
    if seen != len(g):
        raise CycleError("the graph has a cycle")
    return res


def _walk_pool(g: DiGraph, visit: Visit, parallelism: int, stop: threading.Event | None) -> WalkResult:
    ts: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for n in g:
        ts.add(n, *g.predecessors(n))
    ts.prepare()
    res = WalkResult()
    blocked: dict[str, str] = {}
    lock = threading.Lock()
    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        running: dict[Future[bool | None], str] = {}
        # Finished futures arrive here: waiting on every running future at once
        # (concurrent.futures.wait) costs O(running) per completion, O(N^2) for
        # N independent resources (5,000 prompts: most of the apply).
        completed: queue.SimpleQueue[Future[bool | None]] = queue.SimpleQueue()

        def visit_unless_stopped(n: str) -> bool | None:
            # a node queued behind busy workers has not started: once stop is set, it never does
            if stop is not None and stop.is_set():
                return None
            return visit(n)

        def launch() -> None:
            # a skipped node makes its dependents ready at once: they are taken in the same call
            # (skipped too), so no node is left ready while nothing runs
            ready = ts.get_ready()
            while ready:
                for n in ready:
                    cause = next((blocked[d] for d in g.predecessors(n) if d in blocked), None)
                    if cause is not None or (stop is not None and stop.is_set()):
                        with lock:
                            blocked[n] = cause or "interrupted"
                            res.skipped[n] = blocked[n]
                        ts.done(n)
                        continue
                    fut = pool.submit(visit_unless_stopped, n)
                    running[fut] = n
                    fut.add_done_callback(completed.put)
                ready = ts.get_ready()

        launch()
        while running:  # launch leaves nothing ready unstarted: with nothing running, all are done
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
                    if ok is None:
                        blocked[n] = res.skipped[n] = "interrupted"
                    elif ok:
                        res.done.append(n)
                    else:
                        res.failed.append(n)
                        blocked[n] = n
                ts.done(n)
            launch()
    return res


def graph_of(deps: dict[str, set[str]]) -> DiGraph:
    """A graph from ``node -> the nodes it depends on`` (nodes in the mapping's order)."""
    g = DiGraph()
    for n in deps:
        g.add_node(n)
    for n, ds in deps.items():
        for x in ds:
            g.add_edge(x, n)
    return g


__all__ = ["WalkResult", "walk", "graph_of"]
