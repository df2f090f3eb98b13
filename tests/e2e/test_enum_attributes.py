"""Enumerated attributes (AttrSpec.enum) are checked by validate, or by plan once a variable is known.

A rollout strategy outside its set passed validate and plan before and
failed only when the rollout started. Now a literal is refused when the
configuration is decoded, a value from a local by validate, and a value from
a variable by plan, each at the attribute, with the allowed values and a
"did you mean". Enforcement levels, applies_to and model formats say the same.
"""

from __future__ import annotations

import pytest

from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

variable "strategy" {
  type    = string
  default = "canary"
}

locals {
  strategy = %(local)s
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  rollout {
    strategy = %(strategy)s
    steps    = [50, 100]
  }
}
'''


def _write(p: Project, strategy: str, local: str = '"canary"') -> None:
    p.write("main.mlf.hcl", PROJECT % {"strategy": strategy, "local": local})
    p.write("m.onnx", "m")


def _error(r: object, line: int) -> object:
    [d] = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]  # type: ignore[attr-defined]
    assert d.summary == 'Invalid value for "strategy"', d
    assert d.location == f"main.mlf.hcl:{line}:16", d
    assert '"all_at_once", "blue_green", "canary", "linear"' in d.detail, d
    return d


def test_a_literal_is_refused_by_validate_with_did_you_mean(tmp_project: Project) -> None:
    _write(tmp_project, '"canery"')
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    assert 'Did you mean "canary"?' in _error(r, 21).detail  # type: ignore[attr-defined]
    assert tmp_project.run("plan").exit_code == 1


def test_a_value_from_a_local_is_refused_by_validate(tmp_project: Project) -> None:
    _write(tmp_project, "local.strategy", local='"blue-green"')
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    assert 'Did you mean "blue_green"?' in _error(r, 21).detail  # type: ignore[attr-defined]


def test_a_value_from_a_variable_is_refused_by_plan(tmp_project: Project) -> None:
    _write(tmp_project, "var.strategy")
    assert tmp_project.run("validate").exit_code == 0
    assert tmp_project.run("plan").exit_code == 0
    r = tmp_project.run("plan", "--var", "strategy=liner")
    assert r.exit_code == 1, r
    assert 'Did you mean "linear"?' in _error(r, 21).detail  # type: ignore[attr-defined]


@pytest.mark.parametrize("strategy", ["all_at_once", "blue_green", "canary", "linear"])
def test_every_strategy_is_accepted(strategy: str, tmp_project: Project) -> None:
    _write(tmp_project, f'"{strategy}"')
    r = tmp_project.run("validate")
    assert r.exit_code == 0, r


def test_a_model_format_typo_says_did_you_mean(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'model "m" {\n  source = "./m.onnx"\n  format = "onxx"\n}\n')
    tmp_project.write("m.onnx", "m")
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    [d] = parse_diagnostics(r.stderr)
    assert d.summary == "Unsupported model format" and d.location == "main.mlf.hcl:3:12", d
    assert 'Did you mean "onnx"?' in d.detail
