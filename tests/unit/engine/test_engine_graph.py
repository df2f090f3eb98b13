"""The dependency graph: edges from references, cycles reported as ordered paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlform.engine.config.decode import decode
from mlform.engine.config.model import Config
from mlform.engine.graph.build import build_graph, to_dot
from mlform.engine.load.hcl import parse_text
from mlform.engine.load.project import LoadedProject


def _config(text: str) -> Config:
    f = parse_text(text, "main.mlf.hcl")
    cfg, diags = decode(LoadedProject(Path("."), [f], {"main.mlf.hcl": text}))
    assert not diags.has_errors, [d.summary for d in diags]
    return cfg


def _cycle_details(text: str) -> list[tuple[str, str]]:
    _, diags = build_graph(_config(text))
    return [(d.detail.split(". Each", 1)[0], str(d.range)) for d in diags.errors if d.summary == "Dependency cycle"]


def test_edges_point_from_a_dependency_to_what_needs_it() -> None:
    g, diags = build_graph(_config('''
variable "env" {}
locals {
  name = "m-${var.env}"
}
model "m" {
  source   = "./m.onnx"
  metadata = { name = local.name }
}
endpoint "e" {
  model = model.m
}
eval_suite "s" {
  target     = model.m
  dataset    = "d.jsonl"
  depends_on = [endpoint.e]
  metric "accuracy" {
    min = 0.9
  }
}
output "url" {
  value = endpoint.e.url
}
'''))
    assert not diags
    assert {("var.env", "local.name"), ("local.name", "model.m"), ("model.m", "endpoint.e"),
            ("model.m", "eval_suite.s"), ("endpoint.e", "eval_suite.s"), ("endpoint.e", "output.url")} \
        <= set(g.edges)
    assert g.nodes["model.m"]["kind"] == "resource"
    assert str(g.edges["local.name", "model.m"]["rng"]) == "main.mlf.hcl:8:23"


@pytest.mark.parametrize("order", [("a", "b", "c"), ("c", "a", "b"), ("b", "c", "a")])
def test_cycle_is_an_ordered_depends_on_path(order: tuple[str, str, str]) -> None:
    # Whatever order the locals are written in, the path reads "x depends on
    # the next", starting from the smallest address.
    refs = {"a": "local.b", "b": "local.c", "c": "local.a"}
    body = "\n".join(f"  {n} = {refs[n]}" for n in order)
    (detail, where), = _cycle_details(f"locals {{\n{body}\n}}\n")
    assert detail == "local.a -> local.b -> local.c -> local.a"
    assert where == f"main.mlf.hcl:{order.index('a') + 2}:7"  # the reference inside local.a


def test_cycle_through_resources_and_depends_on() -> None:
    (detail, where), = _cycle_details('''prompt "a" {
  template = prompt.b.template
}
prompt "b" {
  template   = "x"
  depends_on = [prompt.c]
}
prompt "c" {
  template = prompt.a.version
}
''')
    assert detail == "prompt.a -> prompt.b -> prompt.c -> prompt.a"
    assert where == "main.mlf.hcl:2:14"


def test_self_reference_is_a_cycle_of_one() -> None:
    assert _cycle_details("locals {\n  a = local.a\n}\n") == [("local.a -> local.a", "main.mlf.hcl:2:7")]


def test_each_independent_cycle_is_reported_once() -> None:
    got = _cycle_details("locals {\n  a = local.b\n  b = local.a\n  x = local.y\n  y = local.x\n  ok = local.a\n}\n")
    assert [d for d, _ in got] == ["local.a -> local.b -> local.a", "local.x -> local.y -> local.x"]


def test_no_cycle_no_diagnostic() -> None:
    g, diags = build_graph(_config("locals {\n  a = 1\n  b = local.a\n  c = local.a + local.b\n}\n"))
    assert not diags
    # the graph holds the dependencies, so a walk evaluates a before b before c
    assert sorted(g.predecessors("local.b")) == ["local.a"]
    assert sorted(g.predecessors("local.c")) == ["local.a", "local.b"]
    assert list(g.predecessors("local.a")) == []


def test_dot_output_labels_planned_actions() -> None:
    g, _ = build_graph(_config('prompt "p" {\n  template = "x"\n}\noutput "v" {\n  value = prompt.p.version\n}\n'))
    dot = to_dot(g, {"prompt.p": "+"})
    assert dot.startswith("digraph mlform {")
    assert '"prompt.p" [label = "+ prompt.p", shape = box];' in dot
    assert '"prompt.p" -> "output.v";' in dot
