"""Variable element types are checked and converted as Terraform does (review item 4).

A wrong element type is a diagnostic at the value's source (the value in a
variables file, or the declaration for --var / MLF_VAR_ values, naming the
source), saying the expected and the actual type.
"""

from __future__ import annotations

import json

from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''variable "ports" {
  type = list(number)
}

variable "labels" {
  type    = map(string)
  default = { team = "nlp", tier = 1 }
}

variable "server" {
  type = object({ name = string, replicas = number, gpu = optional(bool) })
  default = { name = "a", replicas = "2", extra = "dropped" }
}

output "ports" {
  value = var.ports
}

output "labels" {
  value = var.labels
}

output "server" {
  value = var.server
}
'''


def _errors(output: str) -> list:  # type: ignore[type-arg]
    return [d for d in parse_diagnostics(output) if d.severity == "Error"]


def _outputs(p: Project) -> dict:  # type: ignore[type-arg]
    r = p.run("output", "--json")
    assert r.exit_code == 0, r
    return {k: v["value"] for k, v in json.loads(r.stdout).items()}


def test_values_are_converted_by_terraform_rules(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", CONFIG)
    tmp_project.write("terraform.auto.mlfvars.hcl", 'ports = [8080, "8081"]\n')
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    out = _outputs(tmp_project)
    assert out["ports"] == [8080, 8081]  # "8081" -> number
    assert out["labels"] == {"team": "nlp", "tier": "1"}  # 1 -> "1"
    assert out["server"] == {"name": "a", "replicas": 2, "gpu": None}  # extra attribute dropped


def test_a_wrong_element_in_a_variables_file_points_at_the_value(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", CONFIG)
    tmp_project.write("prod.mlfvars.hcl", 'ports = [8080, "http"]\n')
    r = tmp_project.run("plan", "--var-file", "prod.mlfvars.hcl")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Invalid value for input variable"
    assert e.location is not None and e.location.endswith("prod.mlfvars.hcl:1:9"), e
    assert 'declared as list(number)' in e.detail and "at [1]" in e.detail
    assert 'a number is required, but it is string "http"' in e.detail
    assert "Traceback" not in r.output


def test_a_wrong_element_from_var_or_the_environment_names_its_source(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", CONFIG)
    r = tmp_project.run("plan", "--var", 'ports=[1, [2]]')
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert "from --var" in e.detail and "at [1]: a number is required, but it is a list" in e.detail
    assert e.location == "main.mlf.hcl:1:1"

    r = tmp_project.run("plan", env={"MLF_VAR_ports": "[1, 2]", "MLF_VAR_server": '{ name = "b" }'})
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert "from environment MLF_VAR_server" in e.detail
    assert 'attribute "replicas" is required, but it is missing' in e.detail


def test_a_default_of_the_wrong_type_is_an_error_at_the_default(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'variable "sizes" {\n  type    = map(number)\n  default = { small = "x" }\n}\n')
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.location == "main.mlf.hcl:3:13"
    assert 'declared as map(number)' in e.detail and 'at ["small"]' in e.detail


def test_a_misspelt_element_type_is_an_invalid_type_specification(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'variable "xs" {\n  type = list(strng)\n}\n')
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Invalid type specification" and e.location == "main.mlf.hcl:2:15"
