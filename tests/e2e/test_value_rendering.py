"""Nested values look the same in every human view, in Terraform's HCL style.

plan (create, update, destroy), a saved plan's ``show``, ``state show``, ``show``
of state, ``output`` and apply's outputs: maps as aligned ``{ key = value }``
blocks, lists as ``[ ... ]`` one element a line, multi-line strings as
heredocs, floats with 4 significant digits, and no JSON anywhere.
"""

from __future__ import annotations

import re

import pytest

from tests.fixtures.project import Project

PROJECT = '''provider "testing" {}

variable "greeting" {
  type    = string
  default = "Hello"
}

model "sentiment" {
  source   = "./models/sentiment.onnx"
  metadata = { owner = "nlp", "cost center" = "ml-42" }
}

prompt "summarize" {
  template     = "${var.greeting}, summarize:\\n{{ text }}\\n"
  variables    = ["text"]
  model_params = { temperature = 0.123456789, max_tokens = 256 }
}

endpoint "api" {
  provider = provider.testing
  model    = model.sentiment
}

output "params" {
  value = prompt.summarize.model_params
}

output "tags" {
  value = ["a", "b"]
}

output "ratio" {
  value = 2 / 3
}
'''

# JSON's "key": value, or an inline object/array opening a value.
JSON_BLOB = re.compile(r'"[^"\n]*": |= \{"|= \[\{|= \["')


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.copy_model("models/sentiment.onnx")
    return tmp_project


def no_json(text: str) -> None:
    assert not JSON_BLOB.search(text), text
    assert "0.123456789" not in text and "0.6666666" not in text, text  # floats are rounded


def test_plan_create_renders_nested_values_as_hcl(project: Project) -> None:
    r = project.run("plan", "--out", "p.mlfplan")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert ('      + metadata   = {\n'
            '          + "cost center" = "ml-42"\n'
            '          + owner         = "nlp"\n'
            '        }\n') in r.stdout
    assert ('      + model_params = {\n'
            '          + max_tokens  = 256\n'
            '          + temperature = 0.1235\n'
            '        }\n') in r.stdout
    assert ('      + template     = <<-EOT\n'
            '            Hello, summarize:\n'
            '            {{ text }}\n'
            '        EOT\n') in r.stdout
    assert '      + variables    = [\n          + "text",\n        ]\n' in r.stdout
    assert '  + tags   = [\n      + "a",\n      + "b",\n    ]\n' in r.stdout
    assert "  + ratio  = 0.6667\n" in r.stdout
    # The saved plan shows the same text.
    shown = project.run("show", "p.mlfplan")
    assert shown.exit_code == 0, shown.output
    body = r.stdout.split("Saved the plan to")[0].strip()
    assert body in shown.stdout


def test_state_show_show_and_output_use_the_same_layout(project: Project) -> None:
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert ("Outputs:\n\nparams = {\n    max_tokens  = 256\n    temperature = 0.1235\n}\n"
            "ratio = 0.6667\ntags = [\n    \"a\",\n    \"b\",\n]\n") in r.stdout

    r = project.run("state", "show", "prompt.summarize")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert r.stdout.startswith('# prompt.summarize:\nprompt "summarize" {\n')
    assert ('    model_params = {\n'
            '        max_tokens  = 256\n'
            '        temperature = 0.1235\n'
            '    }\n') in r.stdout
    assert '    template     = <<-EOT\n        Hello, summarize:\n        {{ text }}\n    EOT\n' in r.stdout
    assert '    variables    = [\n        "text",\n    ]\n' in r.stdout
    assert ('    versions     = [\n'
            '        {\n'
            '            model_params    = {\n'
            '                max_tokens  = 256\n') in r.stdout
    assert "model_params { max_tokens = 256, temperature = 0.1235 }" in r.stdout  # the versions summary

    r = project.run("state", "show", "model.sentiment")
    assert '    metadata   = {\n        "cost center" = "ml-42"\n        owner         = "nlp"\n    }\n' in r.stdout

    r = project.run("show")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert '    metadata   = {\n        "cost center" = "ml-42"\n' in r.stdout
    assert "Outputs:\n\nparams = {\n    max_tokens  = 256\n" in r.stdout

    r = project.run("output")
    assert r.exit_code == 0, r.output
    assert r.stdout == ('params = {\n    max_tokens  = 256\n    temperature = 0.1235\n}\nratio = 0.6667\n'
                        'tags = [\n    "a",\n    "b",\n]\n')
    r = project.run("output", "params")
    assert r.stdout == "{\n    max_tokens  = 256\n    temperature = 0.1235\n}\n"
    r = project.run("output", "--raw", "ratio")  # scripts get the number in full
    assert r.stdout.startswith("0.6666666")


def test_update_and_destroy_plans_show_changes_element_by_element(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    r = project.run("plan", "--var", "greeting=Hi")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert ('      ~ template     = <<-EOT\n'
            '          - Hello, summarize:\n'
            '          + Hi, summarize:\n'
            '            {{ text }}\n'
            '        EOT\n') in r.stdout
    assert ('      ~ versions     = [\n'
            '            # (1 unchanged element hidden)\n'
            '          + {\n'
            '              + model_params    = {\n') in r.stdout
    assert "            },\n        ]\n" in r.stdout

    r = project.run("plan", "--destroy")
    assert r.exit_code == 0, r.output
    no_json(r.stdout)
    assert ('      - model_params = {\n'
            '          - max_tokens  = 256\n'
            '          - temperature = 0.1235\n'
            '        } -> null\n') in r.stdout
    assert '      - variables    = [\n          - "text",\n        ] -> null\n' in r.stdout
    assert "  - ratio  = 0.6667 -> null\n" in r.stdout
