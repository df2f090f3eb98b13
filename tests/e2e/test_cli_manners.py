"""The command line as a Terraform user meets it: `version`, one-dash flags, did-you-mean, help."""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlform.engine.state import LocalBackend, StateManager
from tests.fixtures.project import REPO_ROOT, CliResult, Project, parse_diagnostics

tomllib = pytest.importorskip("tomllib")

PROJECT = '''provider "testing" {}

variable "replicas" {
  type    = number
  default = 1
}

variable "tag" {
  type    = string
  default = "none"
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = var.replicas
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.write("m.onnx", "m")
    return tmp_project


def run_argv(cwd: Path, *argv: str) -> CliResult:
    """``mlform ARGV...`` exactly as typed (no --chdir added), run from ``cwd``."""
    from mlform.engine.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
    finally:
        os.chdir(old)
    return CliResult(tuple(argv), code, out.getvalue(), err.getvalue())


def pyproject() -> dict[str, Any]:
    with open(REPO_ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)  # type: ignore[no-any-return]


# --- version -----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["version"], ["--version"], ["-v"], ["-version"]])
def test_version_prints_mlform_python_and_every_provider(tmp_path: Path, argv: list[str]) -> None:
    r = run_argv(tmp_path, *argv)  # an empty directory: no configuration is needed
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    want = pyproject()["project"]["version"]
    assert lines[0] == f"mlform v{want}"
    assert lines[1].startswith(f"on python {platform.python_version()} (")
    providers = dict(re.fullmatch(r"\+ provider (\S+) v(\S+)", x).groups() for x in lines[2:])  # type: ignore
    shipped = pyproject()["project"]["entry-points"]["mlform.providers"]
    assert set(shipped) <= set(providers)
    assert all(providers[name] == want for name in shipped), providers  # they ship in the mlform distribution
    assert list(providers) == sorted(providers)
    assert r.stderr == ""


def test_version_json_has_terraforms_keys(tmp_path: Path) -> None:
    r = run_argv(tmp_path, "version", "--json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert set(doc) == {"mlform_version", "python_version", "platform", "provider_selections"}
    assert doc["mlform_version"] == pyproject()["project"]["version"]
    assert doc["python_version"] == platform.python_version()
    assert doc["platform"].startswith(sys.platform + "_")
    shipped = pyproject()["project"]["entry-points"]["mlform.providers"]
    assert {n: doc["provider_selections"][n] for n in shipped} == {n: doc["mlform_version"] for n in shipped}
    assert run_argv(tmp_path, "version", "-json").stdout == r.stdout


def test_version_ignores_a_broken_configuration(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'modle "m" {\n')
    r = tmp_project.run("version")
    assert r.exit_code == 0, r
    assert r.stdout.startswith("mlform v") and r.stderr == ""


def test_version_reads_metadata_without_importing_a_provider(tmp_path: Path) -> None:
    code = ("import io, sys, contextlib\n"
            "from mlform.engine.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    rc = main(['version'])\n"
            "assert rc == 0 and '+ provider local' in out.getvalue(), out.getvalue()\n"
            "print(sorted(m for m in sys.modules if m.startswith('mlform.providers.')))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_version_from_the_installed_command(tmp_project: Project) -> None:
    r = tmp_project.run_subprocess("--version")
    assert r.exit_code == 0, r
    assert r.stdout.startswith("mlform v") and "+ provider testing v" in r.stdout


# --- one-dash flags ----------------------------------------------------------------------------

@pytest.mark.parametrize("terraform, gnu", [
    (["-detailed-exitcode"], ["--detailed-exitcode"]),
    (["-var", "replicas=3"], ["--var", "replicas=3"]),
    (["-var=replicas=3"], ["--var", "replicas=3"]),
    (["-var-file=more.mlfvars.hcl"], ["--var-file", "more.mlfvars.hcl"]),
    (["-target=model.m"], ["--target", "model.m"]),
    (["-destroy"], ["--destroy"]),
    (["-refresh-only"], ["--refresh-only"]),
    (["-refresh=false"], ["--no-refresh"]),
    (["-lock=false"], ["--no-lock"]),
    (["-lock-timeout=1s"], ["--lock-timeout", "1s"]),
    (["-json", "-var", "tag=x"], ["--json", "--var=tag=x"]),
    (["-json=true"], ["--json"]),
    (["-detailed-exitcode=false", "-var", "replicas=2"], ["--var", "replicas=2"]),
    (["--refresh=no"], ["--no-refresh"]),
    (["-no-refresh=false"], ["--refresh"]),
])
def test_terraform_spelling_plans_as_the_gnu_one(project: Project, terraform: list[str], gnu: list[str]) -> None:
    project.write("more.mlfvars.hcl", "replicas = 5\n")
    assert project.run("apply", "--auto-approve").exit_code == 0
    a, b = project.run("plan", *terraform), project.run("plan", *gnu)
    assert (a.exit_code, a.stdout, a.stderr) == (b.exit_code, b.stdout, b.stderr)
    assert a.exit_code in (0, 2), a


def test_one_dash_flags_change_what_the_plan_does(project: Project) -> None:
    assert project.run("apply", "-auto-approve", "-parallelism=2").exit_code == 0
    r = project.run("plan", "-detailed-exitcode", "-var", "replicas=3", "-target=endpoint.e", "-json")
    assert r.exit_code == 2, r
    doc = json.loads(r.stdout)
    assert doc["variables"]["replicas"]["value"] == 3
    assert [c["address"] for c in doc["resource_changes"] if c["change"]["actions"] != ["no-op"]] == ["endpoint.e"]


def test_chdir_and_out_with_one_dash(project: Project, tmp_path: Path) -> None:
    rel = os.path.relpath(project.path, tmp_path)
    r = run_argv(tmp_path, f"-chdir={rel}", "plan", "-out=p.plan", "-no-color")
    assert r.exit_code == 0, r
    assert (project.path / "p.plan").is_file(), "-out is relative to -chdir"
    r = run_argv(tmp_path, "-chdir", rel, "apply", "p.plan")
    assert r.exit_code == 0, r
    assert "Apply complete! Resources: 2 added" in r.stdout


@pytest.fixture
def held_lock(project: Project) -> Iterator[None]:
    mgr = StateManager(LocalBackend(project.path / "mlform.state.json"))
    mgr.lock("apply", 0.0)
    try:
        yield
    finally:
        mgr.unlock()


@pytest.mark.usefixtures("held_lock")
@pytest.mark.parametrize("spelling", ["-lock=false", "--lock=false", "--no-lock", "--lock=0"])
def test_lock_false_in_every_spelling_skips_the_held_lock(project: Project, spelling: str) -> None:
    assert project.run("plan", "--lock=true").exit_code == 1
    r = project.run("plan", spelling)
    assert r.exit_code == 0, r


def test_values_that_look_like_flags_pass_unchanged(project: Project) -> None:
    r = project.run("plan", "-json", "-var", "tag=-out=x", "--var", "replicas=-1")
    doc = json.loads(r.stdout)
    assert doc["variables"]["tag"]["value"] == "-out=x", r
    assert doc["variables"]["replicas"]["value"] == -1
    r = project.run("plan", "--out", "-p.plan")
    assert r.exit_code == 0, r
    assert (project.path / "-p.plan").is_file()


def test_nothing_after_a_double_dash_is_read_as_a_flag(project: Project) -> None:
    r = project.run("plan", "--", "-json")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert "-json" in d.summary and "--json" not in d.summary


# --- mistakes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, summary, hint", [
    (["plan", "-outt=x"], 'Unknown flag "-outt"', 'Did you mean "--out"?'),
    (["plan", "--outt", "x"], 'Unknown flag "--outt"', 'Did you mean "--out"?'),
    (["apply", "-auto-aprove"], 'Unknown flag "-auto-aprove"', 'Did you mean "--auto-approve"?'),
    (["plan", "--no-refreshh"], 'Unknown flag "--no-refreshh"', 'Did you mean "--no-refresh"?'),
    (["destroy", "-var-fil=x"], 'Unknown flag "-var-fil"', 'Did you mean "--var-file"?'),
])
def test_an_unknown_flag_suggests_the_closest(project: Project, argv: list[str], summary: str, hint: str) -> None:
    r = project.run(*argv)
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == summary
    assert hint in d.detail and f"mlform {argv[0]} --help" in d.detail
    assert r.stdout == ""


def test_an_unknown_flag_far_from_any_says_so_without_a_guess(project: Project) -> None:
    r = project.run("plan", "-frobnicate")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == 'Unknown flag "-frobnicate"' and "Did you mean" not in d.detail


def test_chdir_after_the_command_says_where_it_goes(project: Project, tmp_path: Path) -> None:
    r = run_argv(tmp_path, "plan", "-chdir=project")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == 'Global flag "-chdir" after the command'
    assert "mlform --chdir=project plan" in d.detail


@pytest.mark.parametrize("flag", ["-refresh=maybe", "--lock=sometimes"])
def test_a_boolean_flag_with_another_value_is_refused(project: Project, flag: str) -> None:
    r = project.run("plan", flag)
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary.startswith("Invalid value for --")
    assert "=true or" in d.detail and "=false" in d.detail


def test_a_parser_error_is_a_diagnostic(project: Project) -> None:
    r = project.run("force-unlock")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert "Missing argument" in d.summary and "LOCK_ID" in d.summary
    assert "mlform force-unlock --help" in d.detail


@pytest.mark.parametrize("spelling", ["-h", "-help", "--help"])
def test_help_in_every_spelling(project: Project, spelling: str) -> None:
    r = project.run("plan", spelling)
    assert r.exit_code == 0, r
    assert r.stdout.startswith("Usage: mlform plan [OPTIONS]")


# --- help --------------------------------------------------------------------------------------

def _commands() -> Iterator[tuple[list[str], Any, Any]]:
    """(path, command, context) for every command and group, root first."""
    import typer

    from mlform.engine.cli.main import app

    def walk(path: list[str], cmd: Any, parent: Any) -> Iterator[tuple[list[str], Any, Any]]:
        ctx = cmd.make_context(path[-1] if path else "mlform", [], parent=parent, resilient_parsing=True)
        yield path, cmd, ctx
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk([*path, name], sub, ctx)

    yield from walk([], typer.main.get_command(app), None)


def test_every_flag_has_help_and_flags_show_no_value(project: Project) -> None:
    seen = 0
    for path, cmd, ctx in _commands():
        r = project.run(*path, "--help")
        assert r.exit_code == 0, r
        lines = r.stdout.splitlines()
        for p in cmd.get_params(ctx):
            names = [*p.opts, *p.secondary_opts]
            assert (p.help or "").strip(), f"mlform {' '.join(path)}: {names} has no help"
            if p.param_type_name != "option":
                continue
            seen += 1
            head = p.get_help_record(ctx)[0]
            row = next((x for x in lines if x.strip().startswith(head)), None)
            assert row is not None, f"{head!r} is not in `mlform {' '.join(path)} --help`:\n{r.stdout}"
            shown = set(re.split(r"[\s,/;]+", head.strip())) - {""}
            if p.is_flag:
                assert shown == set(names), f"flag {names} shown as taking a value: {head!r}"
            else:
                value = shown - set(names)
                assert len(value) == 1 and re.fullmatch(r"[A-Z][A-Z_=]*", value.pop()), \
                    f"{names} should name its value in capitals: {head!r}"
    assert seen > 40  # the walk found the commands' options
