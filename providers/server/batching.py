"""Adaptive (dynamic) batching: concurrent requests to one version run as one batch.

As Triton's dynamic batcher and MLServer's adaptive batching do: a request
that reaches a version with batching on waits, at most ``max_delay_ms``, for
others to join it; the batch runs as soon as it holds ``max_batch_size`` rows
(the sum of the requests' first dimensions) or the first request's wait is
over. The inputs are concatenated along the first dimension, the model runs
once, and each output is sliced back into the rows of each request.

Only a version whose every input and output has a dynamic first dimension
(``-1``) is batched, and a version serving a prompt never is. Requests are
batched with others of the same trailing shapes only; a request larger than
``max_batch_size`` rows, or whose inputs disagree on their first dimension,
runs alone. When the batched run fails, or an output does not have the
batch's rows, every request of the batch is run on its own, so a request that
the model refuses fails alone and the others get their answers.

Everything here runs on the event-loop thread except the model runs of a
version that is offloaded (its runs average above 2 ms), which run on a
worker thread; their counters are updated back on the loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from mlform.providers.server.config import BatchingSpec

_perf = time.perf_counter
Feed = dict[str, np.ndarray]
# (feed, rows, requested outputs or None, future of the request's result)
Item = tuple[Feed, int, "list[str] | None", "asyncio.Future[dict[str, np.ndarray]]"]
# (result or None, exception or None) per item; (run ms, requests in that run) per run
Outcome = tuple["dict[str, np.ndarray] | None", "BaseException | None"]


def batchable(runner: Any) -> bool:
    """Whether a runner's inputs and outputs all have a dynamic first dimension."""
    if getattr(runner, "prompt", None) is not None:
        return False
    specs = (*runner.inputs, *runner.outputs)
    return bool(runner.inputs) and all(len(s.shape) >= 1 and s.shape[0] == -1 for s in specs)


class _Queue:
    __slots__ = ("items", "rows", "timer")

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.rows = 0
        self.timer: asyncio.TimerHandle | None = None


class Batcher:
    """The batch queues of one version (one per combination of trailing input shapes)."""

    def __init__(self, version: Any, spec: BatchingSpec) -> None:
        self.version = version
        self.max_rows = spec.max_batch_size
        self.delay = spec.max_delay_ms / 1000.0
        self.enabled = batchable(version.runner)
        self.names = tuple(s.name for s in version.runner.inputs)
        self._queues: dict[tuple[Any, ...], _Queue] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def key(self, feed: Feed) -> tuple[tuple[Any, ...], int] | None:
        """(queue key, rows) of a request that can join a batch, else ``None``."""
        if not self.enabled:
            return None
        rows = -1
        parts = []
        for n in self.names:
            a = feed[n]
            if a.ndim == 0 or (rows >= 0 and a.shape[0] != rows):
                return None
            rows = a.shape[0]
            parts.append(a.shape[1:])
        if not 0 < rows <= self.max_rows:
            return None
        return tuple(parts), rows

    async def run(self, key: tuple[Any, ...], rows: int, feed: Feed,
                  outputs: list[str] | None) -> dict[str, np.ndarray]:
        """The request's outputs, once its batch has run; raises what its own run raised."""
        loop = asyncio.get_running_loop()
        queue = self._queues.get(key)
        if queue is not None and queue.rows + rows > self.max_rows:
            self._flush(key, queue)  # full without this one: it starts the next batch
            queue = None
        if queue is None:
            queue = self._queues[key] = _Queue()
        future: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()
        queue.items.append((feed, rows, outputs, future))
        queue.rows += rows
        if queue.rows >= self.max_rows:
            self._flush(key, queue)
        elif queue.timer is None:
            queue.timer = loop.call_later(self.delay, self._flush, key, queue)
        return await future

    def _flush(self, key: tuple[Any, ...], queue: _Queue) -> None:
        if self._queues.get(key) is queue:
            del self._queues[key]
        if queue.timer is not None:
            queue.timer.cancel()
            queue.timer = None
        items, queue.items = queue.items, []
        if not items:
            return
        if self.version.offload:
            task = asyncio.ensure_future(self._run_on_thread(items))
            self._tasks.add(task)  # held until done: the loop keeps only weak references
            task.add_done_callback(self._tasks.discard)
        else:
            self._settle(items, *self._compute(items))

    async def _run_on_thread(self, items: list[Item]) -> None:
        try:
            outcomes, runs = await run_in_threadpool(self._compute, items)
        except BaseException as e:  # noqa: BLE001 - every waiting request must be answered
            outcomes, runs = [(None, e)] * len(items), []
        self._settle(items, outcomes, runs)

    def _settle(self, items: list[Item], outcomes: list[Outcome],
                runs: list[tuple[float, int]]) -> None:
        version = self.version
        for ms, n in runs:
            version.observe_run(ms)
            if n > 1:
                version.metrics.observe_batch(n)
        for (_, _, _, future), (result, error) in zip(items, outcomes):
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)  # type: ignore[arg-type]

    def _compute(self, items: list[Item]) -> tuple[list[Outcome], list[tuple[float, int]]]:
        """Run the batch (or each request alone, when it cannot be split); no loop state."""
        if len(items) == 1:
            return self._singly(items)
        wanted: list[str] | None = []
        for _, _, outputs, _ in items:
            if outputs is None:
                wanted = None
                break
            assert wanted is not None
            wanted.extend(o for o in outputs if o not in wanted)
        feed = {n: np.concatenate([item[0][n] for item in items]) for n in self.names}
        total = sum(item[1] for item in items)
        runner = self.version.runner
        t0 = _perf()
        try:
            result = runner.run(feed, wanted or None)
        except Exception:  # noqa: BLE001 - find out whose request it was: run each alone
            return self._singly(items)
        ms = (_perf() - t0) * 1000.0
        if any(np.ndim(a) == 0 or len(a) != total for a in result.values()):
            return self._singly(items)
        outcomes: list[Outcome] = []
        start = 0
        for _, rows, outputs, _ in items:
            end = start + rows
            names = outputs if outputs is not None else list(result)
            outcomes.append(({n: result[n][start:end] for n in names}, None))
            start = end
        return outcomes, [(ms, len(items))]

    def _singly(self, items: list[Item]) -> tuple[list[Outcome], list[tuple[float, int]]]:
        runner = self.version.runner
        outcomes: list[Outcome] = []
        runs: list[tuple[float, int]] = []
        for feed, _, outputs, _ in items:
            t0 = _perf()
            try:
                outcomes.append((runner.run(feed, outputs), None))
            except Exception as e:  # noqa: BLE001 - answered to that request alone
                outcomes.append((None, e))
            runs.append(((_perf() - t0) * 1000.0, 1))
        return outcomes, runs
