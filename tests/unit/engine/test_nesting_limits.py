"""Nesting limits: 100 levels of anything is read, 101 is "Nested too deeply" at its place.

Every recursive part of mlform (both parsers, the AST encoding of the parse
cache, the evaluator) handled a few hundred levels at most before this, and
raised RecursionError ("internal error") beyond; each kind of nesting is
checked through the CLI on both sides of the limit, on both parsers (the fast
one, and python-hcl2's, which reads what the fast one leaves), in HCL, in
JSON, in a var file and in a --var value.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest

from mlform.engine.load import fastparse
from mlform.engine.load.depth import MAX_DEPTH
from tests.fixtures.project import Project, parse_diagnostics

# each: n levels of one kind of nesting, as an expression; with the locals block around it
# (a level of braces) and the literal inside it, n + 1 levels
KINDS: dict[str, Callable[[int], str]] = {
    "brackets": lambda n: "[" * n + "1" + "]" * n,
    "objects": lambda n: "{a=" * n + "1" + "}" * n,
    "parentheses": lambda n: "(" * n + "1" + ")" * n,
    "calls": lambda n: "abs(" * n + "1" + ")" * n,
    "interpolations": lambda n: '"${' * n + "1" + '}"' * n,
    "unary": lambda n: "-" * n + "1",
    "operators": lambda n: " + ".join(["1"] * (n + 1)),
    "conditionals": lambda n: "true ? " * n + "1" + " : 2" * n,
    "indexes": lambda n: "[1]" + "[0]" * (n - 1),  # valid only once: "A number cannot be indexed"
}


def _levels(kind: str, over: bool) -> int:
    return MAX_DEPTH if over else MAX_DEPTH - 1


def _project(p: Project, expr: str) -> None:
    p.write("main.mlf.hcl", f"locals {{\n  v = {expr}\n}}\n\noutput \"o\" {{\n  value = local.v\n}}\n")


@pytest.fixture(params=["fast", "python-hcl2"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "python-hcl2":
        def fallback(text: str, filename: str) -> object:
            raise fastparse.Fallback("test: python-hcl2 reads everything")
        monkeypatch.setattr(fastparse, "parse", fallback)
    return str(request.param)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_at_the_limit_plans(kind: str, parser: str, tmp_project: Project) -> None:
    _project(tmp_project, KINDS[kind](_levels(kind, over=False)))
    r = tmp_project.run("plan")
    assert "internal error" not in r.output and "Nested too deeply" not in r.output, r
    assert r.exit_code == (1 if kind == "indexes" else 0), r


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_past_the_limit_is_a_diagnostic_at_the_expression(kind: str, parser: str, tmp_project: Project) -> None:
    _project(tmp_project, KINDS[kind](_levels(kind, over=True)))
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    assert "internal error" not in r.output
    [d] = parse_diagnostics(r.stderr)
    assert d.summary == "Nested too deeply"
    assert d.location is not None and d.location.startswith("main.mlf.hcl:2:"), d
    assert f"more than {MAX_DEPTH} levels" in d.detail


def test_deep_json_config(tmp_project: Project) -> None:
    text = json.dumps({"locals": {"v": json.loads("[" * 500 + "]" * 500)}})
    tmp_project.write("main.mlf.json", text)
    r = tmp_project.run("validate")
    assert r.exit_code == 1 and "internal error" not in r.output, r
    [d] = parse_diagnostics(r.stderr)
    # two braces, then the 99th bracket
    assert d.summary == "Nested too deeply" and d.location == f"main.mlf.json:1:{text.index('[') + MAX_DEPTH - 1}", d


def test_deep_var_file_and_var_value(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'variable "x" {\n  type    = list(any)\n  default = []\n}\n')
    tmp_project.write("deep.mlfvars.hcl", "x = " + "[" * 300 + "]" * 300 + "\n")
    r = tmp_project.run("plan", "--var-file", "deep.mlfvars.hcl")
    assert r.exit_code == 1 and "internal error" not in r.output, r
    [d] = parse_diagnostics(r.stderr)
    assert d.summary == "Nested too deeply" and d.location == f"deep.mlfvars.hcl:1:{MAX_DEPTH + 5}", d
    r = tmp_project.run("plan", "--var", "x=[" + "-" * 3000 + "1]")
    assert r.exit_code == 1 and "internal error" not in r.output, r
    [d] = parse_diagnostics(r.stderr)
    assert d.summary == "Invalid value for input variable" and "from --var" in d.detail
    assert "Nested too deeply" in d.detail
