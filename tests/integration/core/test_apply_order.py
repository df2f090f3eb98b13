"""Apply order follows references through locals, as Terraform's graph does.

A resource that reads another only through a local (or a chain of them) depends on it: its
change records the dependency, its provider call starts after the other's finished, and a
destroy goes the other way. Driven through the Core with the testing provider, whose
``apply_change`` hook records when each call starts and ends.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mlform.engine.core import Core, PlanOptions
from mlform.engine.providers.registry import register, unregister
from mlform.providers.testing import TestProvider

PROJECT = '''provider "testing" {}

model "a" {
  provider = provider.testing
  source   = "./a.onnx"
}

locals {
  m = model.a.id
  n = "built-on-${local.m}"
}

model "b" {
  provider = provider.testing
  source   = "./b.onnx"
  metadata = { base = local.n }
}
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    register("testing", TestProvider)
    TestProvider.hooks.clear()
    (tmp_path / "a.onnx").write_text("a")
    (tmp_path / "b.onnx").write_text("b")
    (tmp_path / "main.mlf.hcl").write_text(PROJECT)
    yield tmp_path
    TestProvider.hooks.clear()
    unregister("testing")


def record_calls(events: list[tuple[str, str, str]]) -> None:
    """Each provider call as (start|end, action, address); model.a's calls take a while, so a
    call that does not wait for it starts before it ends."""
    lock = threading.Lock()

    def hook(req: Any, default: Callable[[Any], Any]) -> Any:
        with lock:
            events.append(("start", req.action, req.address))
        if req.address == "model.a":
            time.sleep(0.3)
        try:
            return default(req)
        finally:
            with lock:
                events.append(("end", req.action, req.address))

    TestProvider.hooks["apply_change"] = hook


def plan_and_apply(project: Path, opts: PlanOptions | None = None) -> tuple[Any, Any]:
    c, d = Core.open(project, use_cache=False)
    assert c is not None, [x.summary for x in d]
    res = c.plan(opts)
    assert res.plan is not None, [x.summary for x in res.diagnostics]
    with c.state.locked("OperationTypeApply", 0):
        out = c.apply(res.plan, res.context, parallelism=4)
    assert not out.diagnostics.has_errors, [x.summary for x in out.diagnostics]
    return res.plan, out


def test_a_resource_read_through_locals_is_applied_after_it(project: Path) -> None:
    events: list[tuple[str, str, str]] = []
    record_calls(events)
    plan, _ = plan_and_apply(project)
    b = plan.get("model.b")
    assert b is not None and b.dependencies == ["model.a"]
    assert events.index(("end", "create", "model.a")) < events.index(("start", "create", "model.b")), events

    c, _ = Core.open(project, use_cache=False)
    assert c is not None
    state = c.state.load()
    a, b_state = state.get("model.a"), state.get("model.b")
    assert a is not None and b_state is not None
    assert b_state.attributes["metadata"] == {"base": f"built-on-{a.attributes['id']}"}
    assert b_state.dependencies == ["model.a"]

    events.clear()
    plan_and_apply(project, PlanOptions(mode="destroy"))
    assert events.index(("end", "delete", "model.b")) < events.index(("start", "delete", "model.a")), events
