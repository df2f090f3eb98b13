"""`mlform output` and `mlform state list` say so when there is nothing to show.

As Terraform: `output` with no outputs warns "No outputs found" (on stderr,
exit 0); `output NAME` for a name the state lacks is an error naming it.
`state list` on an empty state says so on stderr and keeps stdout empty, so
`mlform state list | wc -l` still counts resources.
"""

from __future__ import annotations

from tests.fixtures.project import Project, parse_diagnostics

MODEL_ONLY = 'model "m" {\n  source = "./models/m.onnx"\n}\n'
WITH_OUTPUT = MODEL_ONLY + '\noutput "digest" {\n  value = model.m.digest\n}\n'


def _no_outputs_warning(stderr: str) -> None:
    ds = parse_diagnostics(stderr)
    assert [(d.severity, d.summary) for d in ds] == [("Warning", "No outputs found")], stderr
    assert "has no outputs defined" in ds[0].detail
    assert "the `output` keyword" in ds[0].detail and "`mlform apply`" in ds[0].detail


def test_nothing_applied_yet(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", WITH_OUTPUT)
    tmp_project.copy_model("models/m.onnx")

    r = tmp_project.run("output")
    assert r.exit_code == 0, r
    assert r.stdout == ""
    _no_outputs_warning(r.stderr)

    r = tmp_project.run("output", "--json")  # machine-readable: an empty object, no warning
    assert r.exit_code == 0, r
    assert r.stdout.strip() == "{}" and r.stderr == "", r

    r = tmp_project.run("output", "digest")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert (d.severity, d.summary) == ("Error", 'Output "digest" not found'), r
    assert '"digest"' in d.detail and "mlform apply" in d.detail, r
    assert "Traceback" not in r.output

    r = tmp_project.run("state", "list")
    assert r.exit_code == 0, r
    assert r.stdout == "", r
    assert "No resources are recorded in the state." in r.stderr, r


def test_applied_project(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", WITH_OUTPUT)
    tmp_project.copy_model("models/m.onnx")
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0

    r = tmp_project.run("state", "list")
    assert r.exit_code == 0, r
    assert (r.stdout, r.stderr) == ("model.m\n", ""), r

    r = tmp_project.run("output")
    assert r.exit_code == 0, r
    assert r.stdout.startswith('digest = "sha256:'), r
    assert "No outputs found" not in r.output

    r = tmp_project.run("output", "digets")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == 'Output "digets" not found', r
    assert 'Did you mean "digest"?' in d.detail, r

    # The output removed from the configuration: after apply, state has none.
    tmp_project.write("main.mlf.hcl", MODEL_ONLY)
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    r = tmp_project.run("output")
    assert r.exit_code == 0 and r.stdout == "", r
    _no_outputs_warning(r.stderr)
