"""The CLI as a user drives it: validate, plan, apply, show, destroy, flags and exit codes.

The first tests run the installed ``mlform`` executable in a subprocess, as
a shell does; the rest call it in-process (same code path, much faster).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from mlform.engine.state.backends.local import LocalBackend
from mlform.engine.state.manager import StateManager
from tests.fixtures.project import Project, parse_diagnostics

PROJECT = '''provider "testing" {}

variable "env" {
  type    = string
  default = "staging"
}

model "sentiment" {
  source  = "./models/sentiment.onnx"
  version = "1.0.0"
}

prompt "summarize" {
  template  = "[${var.env}] Summarize: {{ text }}"
  variables = ["text"]
}

endpoint "api" {
  provider = provider.testing
  model    = model.sentiment
  replicas = 2
}

output "url" {
  value = endpoint.api.url
}

output "prompt_version" {
  value = prompt.summarize.version
}
'''


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.copy_model("models/sentiment.onnx")
    return tmp_project


# --- the real executable ------------------------------------------------------------------

def test_plan_apply_show_with_the_installed_command(project: Project) -> None:
    r = project.run_subprocess("plan", "--out", "release.plan")
    assert r.exit_code == 0, r
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in r.stdout
    assert "mlform apply release.plan" in r.stdout

    r = project.run_subprocess("apply", "release.plan")
    assert r.exit_code == 0, r
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in r.stdout

    r = project.run_subprocess("plan", "--detailed-exitcode")
    assert r.exit_code == 0, r
    assert "No changes." in r.stdout

    r = project.run("output", "--raw", "url")
    assert r.exit_code == 0 and r.stdout.startswith("http://127.0.0.1:"), r
    r = project.run("show", "--json")
    state = json.loads(r.stdout)
    addresses = [x["address"] for x in state["values"]["root_module"]["resources"]]
    assert sorted(addresses) == ["endpoint.api", "model.sentiment", "prompt.summarize"]


def test_a_broken_configuration_in_the_installed_command(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'modle "m" {\n  source = "./m.onnx"\n}\n')
    r = tmp_project.run_subprocess("validate")
    assert r.exit_code == 1, r
    assert "Success" not in r.stdout
    assert 'Error: Unsupported block type "modle"' in r.stderr
    assert "on main.mlf.hcl:1:1:" in r.stderr
    assert "Traceback" not in r.output


def test_a_usage_mistake_is_not_an_internal_error(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'prompt "p" {\n  template = "x"\n}\n')
    r = tmp_project.run_subprocess("plan", "--no-refreshh")
    assert r.exit_code == 1, r
    assert 'Error: Unknown flag "--no-refreshh"' in r.stderr and 'Did you mean "--no-refresh"?' in r.stderr
    assert "internal error" not in r.output and "Traceback" not in r.output


# --- in-process ------------------------------------------------------------------------------

def test_validate_says_success(project: Project) -> None:
    r = project.run("validate")
    assert r.exit_code == 0, r
    assert r.stdout == "Success! The configuration is valid.\n"
    assert r.stderr == ""


def test_second_plan_after_a_variable_change_updates_only_what_uses_it(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    r = project.run("plan", "--detailed-exitcode", "--var", "env=prod")
    assert r.exit_code == 2, r
    assert "# prompt.summarize will be updated in-place" in r.stdout
    assert '~ template  = "[staging] Summarize: {{ text }}" -> "[prod] Summarize: {{ text }}"' in r.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in r.stdout


def test_variables_from_environment_file_and_flag_in_precedence_order(project: Project) -> None:
    project.write("env.auto.mlfvars.hcl", 'env = "from-auto-file"\n')
    r = project.run("plan", env={"MLF_VAR_env": "from-env"})
    assert "[from-auto-file] Summarize" in r.stdout
    r = project.run("plan", "--var", "env=from-flag", env={"MLF_VAR_env": "from-env"})
    assert "[from-flag] Summarize" in r.stdout


def test_apply_without_a_terminal_asks_for_auto_approve(project: Project) -> None:
    r = project.run("apply")
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == "No terminal to ask for approval"
    assert "--auto-approve" in d.detail
    assert not (project.path / "mlform.state.json").exists() or not project.state()["resources"]


def test_destroy_empties_the_state(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    r = project.run("destroy", "--auto-approve")
    assert r.exit_code == 0, r
    assert "Destroy complete! Resources: 0 added, 0 changed, 3 destroyed." in r.stdout
    assert project.state()["resources"] == []


@pytest.mark.parametrize("flag", ["--refresh=maybe", "--lock=sometimes"])
def test_boolean_flags_reject_other_values(project: Project, flag: str) -> None:
    r = project.run("plan", flag)
    assert r.exit_code == 1, r
    (d,) = parse_diagnostics(r.stderr)
    assert d.summary == f"Invalid value for {flag.split('=')[0]}"


@pytest.fixture
def held_lock(project: Project) -> Iterator[None]:
    """Another mlform run holds the state lock."""
    mgr = StateManager(LocalBackend(project.path / "mlform.state.json"))
    mgr.lock("apply", 0.0)
    try:
        yield
    finally:
        mgr.unlock()


@pytest.mark.usefixtures("held_lock")
@pytest.mark.parametrize("command", [["plan"], ["apply", "--auto-approve"]])
def test_a_held_lock_stops_a_run_unless_lock_is_false(project: Project, command: list[str]) -> None:
    r = project.run(*command)
    assert r.exit_code == 1, r
    assert "Error: Error acquiring the state lock" in r.stderr
    backend = LocalBackend(project.path / "mlform.state.json")
    held = backend.current_lock()
    assert held is not None

    r = project.run(*command, "--lock=false")
    assert r.exit_code == 0, r
    assert "Plan: 3 to add, 0 to change, 0 to destroy." in r.stdout  # it did the whole run
    if command[0] == "apply":
        assert "Apply complete! Resources: 3 added" in r.stdout
        assert len(project.state()["resources"]) == 3
    else:
        assert not (project.path / "mlform.state.json").exists()
    # without taking the lock, or releasing the other run's
    assert backend.current_lock() == held


def test_refresh_false_trusts_the_recorded_state(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    (project.path / ".mlform" / "testing-objects.json").write_text("{}")  # deleted outside mlform

    r = project.run("plan", "--detailed-exitcode", "--refresh=false")
    assert r.exit_code == 0, r
    r = project.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r
    assert "# endpoint.api has been deleted" in r.stdout


def test_a_policy_that_cannot_be_evaluated_fails_by_its_enforcement(project: Project) -> None:
    project.write("policy.mlf.hcl", '''policy "replicas" {
  enforcement = "hard_mandatory"
  applies_to  = "endpoint"
  condition   = change.after.autoscaling.max_replicas <= 4
}
''')
    r = project.run("plan")
    assert r.exit_code == 3, r
    (d,) = [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]
    assert d.summary == 'Policy "replicas" could not be evaluated for endpoint.api: Attempt to get attribute ' \
                        "from null value"
    assert d.location == "policy.mlf.hcl:4:17"
    assert "This policy is hard-mandatory." in d.detail
    assert "FAIL replicas (endpoint.api) [hard_mandatory]: could not be evaluated" in r.stdout


def test_warnings_do_not_change_the_exit_code(project: Project) -> None:
    project.write("extra.mlf.hcl", 'prompt "tone" {\n  template  = "Reply: {{ text }}"\n'
                                   '  variables = ["text", "tone"]\n}\n')
    r = project.run("validate")
    assert r.exit_code == 0, r
    (d,) = parse_diagnostics(r.stderr)
    assert (d.severity, d.summary) == ("Warning", "Unused prompt variable")


def test_validate_json_output(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'prompt "p" {\n  templat = "x"\n}\n')
    r = tmp_project.run("validate", "--json")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert doc["valid"] is False and doc["error_count"] == 2
    first = doc["diagnostics"][0]
    assert first["summary"] == "Unsupported argument"
    assert first["range"] == {"filename": "main.mlf.hcl", "start": {"line": 2, "column": 3},
                              "end": {"line": 2, "column": 10}}


def test_plan_json_reports_errors_as_json(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'variable "region" {}\n\nprompt "p" {\n  template = "${var.region}"\n}\n')
    r = tmp_project.run("plan", "--json")
    assert r.exit_code == 1, r
    doc = json.loads(r.stdout)
    assert [d["summary"] for d in doc["diagnostics"]] == ["No value for required variable"]
    assert doc["diagnostics"][0]["range"]["start"] == {"line": 1, "column": 1}

    r = tmp_project.run("plan", "--json", "--var", "region=eu")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["resource_changes"][0]["change"]["after"]["template"] == "eu"
