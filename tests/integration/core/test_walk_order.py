"""Dependency order, asserted on recorded start and finish times (issue 22).

The walker starts a node only once every node it depends on has finished, runs independent
nodes at the same time (no generation barrier), skips what is downstream of a failure and
names the failure as the cause. Checked on the walker itself, inline and on a pool, and on an
apply through the CLI, where the testing provider's ``apply_change`` hook records each call.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from mlform.engine.graph.walk import graph_of, walk
from mlform.engine.providers.protocol import ApplyChangeResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project

# d depends on b and c, which depend on a; e is independent; f waits on d and e.
DEPS = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}, "e": set(), "f": {"d", "e"}}
SLOW = {"a": 0.2, "b": 0.05, "c": 0.3, "e": 0.4}


class Recorder:
    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.start: dict[str, float] = {}
        self.end: dict[str, float] = {}
        self.fail = fail
        self.lock = threading.Lock()

    def __call__(self, n: str) -> bool:
        with self.lock:
            self.start[n] = time.monotonic()
        time.sleep(SLOW.get(n, 0.01))
        with self.lock:
            self.end[n] = time.monotonic()
        return n not in self.fail

    def check_order(self, deps: dict[str, set[str]]) -> None:
        for n, ds in deps.items():
            for dep in ds:
                if n in self.start:
                    assert dep in self.end and self.end[dep] <= self.start[n], \
                        f"{n} started before {dep} finished"


@pytest.mark.parametrize("parallelism", [None, 1, 4])
def test_every_node_starts_after_what_it_depends_on_finished(parallelism: int | None) -> None:
    rec = Recorder()
    res = walk(graph_of(DEPS), rec, parallelism=parallelism)
    assert sorted(res.done) == sorted(DEPS) and not res.failed and not res.skipped
    rec.check_order(DEPS)
    assert res.done.index("a") < res.done.index("b") < res.done.index("d") < res.done.index("f")


def test_a_pool_runs_independent_nodes_together_without_generation_barriers() -> None:
    rec = Recorder()
    walk(graph_of(DEPS), rec, parallelism=4)
    # a and e start together; b finishes early and is not held back by c (d still waits for c)
    assert rec.start["e"] < rec.end["a"] and rec.start["a"] < rec.end["e"]
    assert rec.start["b"] < rec.end["c"]
    assert rec.start["d"] >= rec.end["c"]
    # f waits for e (slow, independent of the rest) as well as for d
    assert rec.start["f"] >= max(rec.end["d"], rec.end["e"])


@pytest.mark.parametrize("parallelism", [None, 4])
def test_a_failure_skips_only_what_depends_on_it_and_is_named_as_the_cause(parallelism: int | None) -> None:
    rec = Recorder(fail={"b"})
    res = walk(graph_of(DEPS), rec, parallelism=parallelism)
    assert res.failed == ["b"]
    assert res.skipped == {"d": "b", "f": "b"}
    assert sorted(res.done) == ["a", "c", "e"]
    assert "d" not in rec.start and "f" not in rec.start
    rec.check_order(DEPS)


@pytest.mark.parametrize("parallelism", [None, 2])
def test_a_stop_skips_every_node_not_yet_started(parallelism: int | None) -> None:
    stop = threading.Event()

    def visit(n: str) -> bool:
        if n == "a":
            stop.set()
        return True

    res = walk(graph_of({"a": set(), "b": {"a"}, "c": {"b"}}), visit, parallelism=parallelism, stop=stop)
    assert res.done == ["a"] and res.skipped == {"b": "interrupted", "c": "interrupted"}


def test_a_node_whose_visit_raises_on_a_pool_fails_and_blocks_its_dependents() -> None:
    def visit(n: str) -> bool:
        if n == "a":
            raise RuntimeError("a bug in visit")
        return True

    res = walk(graph_of({"a": set(), "b": {"a"}, "x": set()}), visit, parallelism=2)
    assert res.failed == ["a"] and res.skipped == {"b": "a"} and res.done == ["x"]


PROJECT = '''provider "testing" {}

model "base" {
  provider = provider.testing
  source   = "./m.onnx"
}

model "left" {
  provider   = provider.testing
  source     = "./m.onnx"
  depends_on = [model.base]
}

model "right" {
  provider = provider.testing
  source   = "./m.onnx"
  metadata = { base = model.base.id }
}

endpoint "top" {
  provider   = provider.testing
  model      = model.right
  depends_on = [model.left]
}

model "alone" {
  provider = provider.testing
  source   = "./m.onnx"
}
'''
APPLY_DEPS = {"model.left": {"model.base"}, "model.right": {"model.base"},
              "endpoint.top": {"model.left", "model.right"}}


def _record(events: list[tuple[str, str, str, float]]) -> None:
    lock = threading.Lock()

    def hook(req: Any, default: Any) -> Any:
        with lock:
            events.append(("start", req.action, req.address, time.monotonic()))
        time.sleep({"model.base": 0.3, "model.alone": 0.3}.get(req.address, 0.05))
        try:
            return default(req)
        finally:
            with lock:
                events.append(("end", req.action, req.address, time.monotonic()))

    TestProvider.hooks["apply_change"] = hook


def _times(events: list[tuple[str, str, str, float]], action: str) -> tuple[dict[str, float], dict[str, float]]:
    start = {a: t for k, act, a, t in events if k == "start" and act == action}
    end = {a: t for k, act, a, t in events if k == "end" and act == action}
    return start, end


def test_apply_and_destroy_follow_dependencies_on_recorded_times(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": PROJECT})
    events: list[tuple[str, str, str, float]] = []
    _record(events)
    r = p.run("apply", "--auto-approve", "--parallelism", "4")
    assert r.exit_code == 0, r
    start, end = _times(events, "create")
    assert set(start) == {"model.base", "model.left", "model.right", "endpoint.top", "model.alone"}
    for n, ds in APPLY_DEPS.items():
        for dep in ds:
            assert end[dep] <= start[n], f"{n} was created before {dep} was"
    assert start["model.alone"] < end["model.base"]  # independent: not held back

    events.clear()
    r = p.run("destroy", "--auto-approve", "--parallelism", "4")
    assert r.exit_code == 0, r
    start, end = _times(events, "delete")
    for n, ds in APPLY_DEPS.items():
        for dep in ds:  # the other way round: what depends on a resource goes first
            assert end[n] <= start[dep], f"{dep} was deleted before {n}"


def test_parallelism_one_runs_one_node_at_a_time() -> None:
    rec = Recorder()
    walk(graph_of({"a": set(), "b": set(), "c": set()}), rec, parallelism=1)
    spans = sorted((rec.start[n], rec.end[n]) for n in "abc")
    assert all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:])), spans


def test_every_node_is_accounted_for_when_failures_and_successes_finish_together() -> None:
    # a fails and y succeeds at once: b (after a) is skipped while c (after y) must still run,
    # whatever order the pool reports them in
    deps = {"a": set(), "y": set(), "b": {"a"}, "c": {"y"}, "d": {"c"}}
    for _ in range(20):
        res = walk(graph_of(deps), lambda n: n != "a", parallelism=4)
        assert (sorted(res.done), res.failed, res.skipped) == (["c", "d", "y"], ["a"], {"b": "a"})


CHAIN = {"a": set(), "b": {"a"}, "c": {"b"}, "d": {"c"}, "e": {"d"}}


@pytest.mark.parametrize("parallelism", [None, 1, 4])
def test_a_failure_skips_a_whole_chain_of_dependents_each_naming_it(parallelism: int | None) -> None:
    # on a pool, every skipped node makes the next one ready while nothing is running
    res = walk(graph_of(CHAIN), lambda n: n != "a", parallelism=parallelism)
    assert res.failed == ["a"] and not res.done
    assert res.skipped == {"b": "a", "c": "a", "d": "a", "e": "a"}


@pytest.mark.parametrize("parallelism", [None, 4])
def test_a_stop_leaves_no_node_of_a_long_chain_unaccounted_for(parallelism: int | None) -> None:
    stop = threading.Event()

    def visit(n: str) -> bool:
        stop.set()
        return True

    res = walk(graph_of(CHAIN), visit, parallelism=parallelism, stop=stop)
    assert res.done == ["a"]
    assert res.skipped == {n: "interrupted" for n in "bcde"}


@pytest.mark.parametrize("parallelism", [None, 4])
def test_every_dependent_that_a_failure_makes_ready_at_once_is_skipped(parallelism: int | None) -> None:
    # b, c and d become ready together when a fails: each is skipped, none is lost
    deps = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"a"}, "e": {"c"}, "x": set()}
    res = walk(graph_of(deps), lambda n: n != "a", parallelism=parallelism)
    assert res.failed == ["a"] and res.done == ["x"]
    assert res.skipped == {"b": "a", "c": "a", "d": "a", "e": "a"}


CHAIN_PROJECT = '''provider "testing" {}

model "base" {
  provider = provider.testing
  source   = "./m.onnx"
}

model "second" {
  provider   = provider.testing
  source     = "./m.onnx"
  depends_on = [model.base]
}

model "third" {
  provider = provider.testing
  source   = "./m.onnx"
  metadata = { after = model.second.id }
}

endpoint "last" {
  provider = provider.testing
  model    = model.third
}
'''


def test_an_apply_reports_every_resource_downstream_of_a_failure_as_skipped(tmp_project: Project) -> None:
    p = tmp_project
    p.write_files({"m.onnx": "weights", "main.mlf.hcl": CHAIN_PROJECT})

    def hook(req: Any, default: Any) -> Any:
        if req.address == "model.base":
            resp = ApplyChangeResponse(new_state=None)
            resp.diagnostics.error("Quota exceeded", "No capacity left for model.base.")
            return resp
        return default(req)

    TestProvider.hooks["apply_change"] = hook
    r = p.run("apply", "--auto-approve", "--parallelism", "4")
    assert r.exit_code == 1, r
    for n in ("model.second", "model.third", "endpoint.last"):
        assert r.stdout.count(f"{n}: skipped because model.base failed") == 1, r.stdout
    assert p.state()["history"][-1]["outcome"] == "failed"
