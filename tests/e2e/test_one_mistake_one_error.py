"""One mistake, one error: what follows from an error already reported is not reported again.

A declaration that failed (a model whose artifact is missing, a local that
cannot be evaluated, a block with the wrong labels...) is marked as errored;
every expression that reads it fails quietly, so ``validate`` and ``plan``
print the mistake once, where it was made, instead of adding an
"Unsupported attribute" on every reference to it. Independent mistakes in the
resources that refer to it are still reported.
"""

from __future__ import annotations

import shutil

import pytest

from tests.fixtures.project import REPO_ROOT, CliResult, Project, RenderedDiagnostic, parse_diagnostics

GOLDEN = REPO_ROOT / "examples" / "quickstart" / "data" / "golden.jsonl"

# A model, and a suite, an endpoint, a local and outputs that all refer to it.
USERS_OF_M = '''
eval_suite "golden" {
  target  = model.m
  dataset = "data/golden.jsonl"
  metric "accuracy" { min = 0.85 }
}

endpoint "e" {
  provider   = provider.local
  model      = model.m
  depends_on = [eval_suite.golden]
  rollout {
    strategy = "canary"
    gates    = [eval_suite.golden]
  }
}

locals {
  digest = model.m.digest
}

output "digest" {
  value = local.digest
}

output "url" {
  value = "${endpoint.e.url}/v2/models/m/infer"
}

output "format" {
  value = upper(model.m.format)
}
'''


def _project(tmp_project: Project, main: str) -> Project:
    tmp_project.write("main.mlf.hcl", 'provider "local" {}\n' + main)
    (tmp_project.path / "data").mkdir()
    shutil.copyfile(GOLDEN, tmp_project.path / "data" / "golden.jsonl")
    return tmp_project


def _errors(r: CliResult) -> list[RenderedDiagnostic]:
    assert "Traceback" not in r.output, r
    errs = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    # Every printed "Error:" line is one parsed diagnostic: nothing printed another way.
    assert len(errs) == sum(1 for line in r.output.splitlines() if line.startswith("Error:")), r
    return errs


def _at(p: Project, line_text: str, expr: str) -> str:
    """``main.mlf.hcl:LINE:COL`` of ``expr`` on the line that reads ``line_text``."""
    lines = p.read("main.mlf.hcl").splitlines()
    (n,) = [i for i, line in enumerate(lines, 1) if line.strip() == line_text]
    return f"main.mlf.hcl:{n}:{lines[n - 1].index(expr) + 1}"


def _validate_ok(p: Project) -> None:
    r = p.run("validate")
    assert r.exit_code == 0, r
    assert _errors(r) == []


def test_missing_model_artifact_is_one_error_in_plan(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
model "m" {
  source = "./models/missing.onnx"
  format = "onnx"
}
''' + USERS_OF_M)
    _validate_ok(p)  # the file is looked for at plan time, as the provider plans the model
    r = p.run("plan")
    assert r.exit_code == 1, r
    errs = _errors(r)
    assert [e.summary for e in errs] == ["Model artifact not found"], r
    (e,) = errs
    assert e.location == _at(p, 'source = "./models/missing.onnx"', '"./'), r
    assert e.source_line == '  source = "./models/missing.onnx"'
    assert "does not exist" in e.detail and "Check the path" in e.detail, r
    assert "Unsupported attribute" not in r.output


def test_missing_instance_of_a_counted_model_is_one_error(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
variable "files" {
  type    = list(string)
  default = ["./models/a.onnx", "./models/missing.onnx"]
}

model "m" {
  count  = length(var.files)
  source = var.files[count.index]
}

locals {
  digests = model.m[*].digest
  n       = length(model.m)
}

output "second" {
  value = model.m[1].digest
}

output "all" {
  value = [for x in model.m : x.digest]
}

output "digests" {
  value = local.digests
}
''')
    p.copy_model("models/a.onnx")
    r = p.run("plan")
    assert r.exit_code == 1, r
    errs = _errors(r)
    assert [(e.summary, e.address) for e in errs] == [("Model artifact not found", "model.m[1]")], r


def test_failed_local_is_one_error(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
locals {
  tag = 1 + "x"
}

model "m" {
  source   = "./models/a.onnx"
  metadata = { tag = local.tag }
}

prompt "p" {
  template = "Classify: {{text}} (${local.tag})"
}

output "tag" {
  value = local.tag
}
''' + USERS_OF_M)
    p.copy_model("models/a.onnx")
    for command in ("validate", "plan"):
        r = p.run(command)
        assert r.exit_code == 1, r
        errs = _errors(r)
        assert [(e.summary, e.location) for e in errs] == [("Invalid operand", _at(p, 'tag = 1 + "x"', '"x"'))], r


def test_wrong_typed_attribute_is_one_error_and_independent_mistakes_still_show(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
variable "meta" {
  type    = list(string)
  default = ["a"]
}

variable "env" {
  type    = list(string)
  default = ["b"]
}

model "m" {
  source   = "./models/a.onnx"
  metadata = var.meta
}
''' + USERS_OF_M)
    p.copy_model("models/a.onnx")
    _validate_ok(p)  # variables are unknown to validate
    r = p.run("plan")
    assert r.exit_code == 1, r
    errs = _errors(r)
    assert [(e.summary, e.location) for e in errs] == [("Incorrect attribute value type",
                                                       _at(p, "metadata = var.meta", "var."))], r
    assert 'metadata": map(any) required, got list' in errs[0].detail, r

    # A second, unrelated mistake in the endpoint that refers to the failed model is
    # its own error: suppression covers only what follows from the first.
    p.write("main.mlf.hcl", p.read("main.mlf.hcl").replace(
        "  model      = model.m\n", "  model      = model.m\n  environment = var.env\n"))
    r = p.run("plan")
    errs = _errors(r)
    assert [e.summary for e in errs] == ["Incorrect attribute value type"] * 2, r
    assert [e.location for e in errs] == [_at(p, "metadata = var.meta", "var."),
                                          _at(p, "environment = var.env", "var.")], r


def test_block_with_wrong_labels_is_one_error(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
model "m" "extra" {
  source = "./models/a.onnx"
}
''' + USERS_OF_M)
    p.copy_model("models/a.onnx")
    for command in ("validate", "plan"):
        r = p.run(command)
        assert r.exit_code == 1, r
        errs = _errors(r)
        assert [(e.summary, e.location) for e in errs] == [
            ('Wrong number of labels for "model" block', _at(p, 'model "m" "extra" {', "model"))], r
    # A reference to a model that was never declared at all is still an error.
    p.write("main.mlf.hcl", p.read("main.mlf.hcl").replace("  value = upper(model.m.format)",
                                                             "  value = model.n.format"))
    errs = _errors(p.run("validate"))
    assert [e.summary for e in errs] == ['Wrong number of labels for "model" block',
                                         "Reference to undeclared resource"]


@pytest.mark.parametrize("given, summary", [
    ("abc", "Invalid value for input variable"),
    ("-3", "Invalid value for variable"),
])
def test_invalid_variable_value_is_one_error(tmp_project: Project, given: str, summary: str) -> None:
    p = _project(tmp_project, '''
variable "p99" {
  type = number
  validation {
    condition     = var.p99 > 0
    error_message = "p99 must be positive."
  }
}

model "m" {
  source = "./models/a.onnx"
}

endpoint "f" {
  provider = provider.local
  model    = model.m
  constraints {
    p99_latency_ms = var.p99
  }
}

output "p99" {
  value = var.p99 * 2
}
''' + USERS_OF_M)
    p.copy_model("models/a.onnx")
    r = p.run("plan", "--var", f"p99={given}")
    assert r.exit_code == 1, r
    errs = _errors(r)
    assert len(errs) == 1, r
    assert errs[0].summary == summary, r
