"""`mlform logs ADDR`: the provider's logs of a recorded resource; a provider that keeps none
(the default of the optional call) says so, and an address not in state is named."""

from __future__ import annotations

from tests.fixtures.project import Project

PROJECT = '''
provider "testing" {}

model "m" {
  source = "./models/m.onnx"
}

endpoint "api" {
  provider = provider.testing
  model    = model.m
}
'''


def test_logs_of_a_provider_without_logs_and_of_an_unknown_address(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.copy_model("models/m.onnx")
    r = tmp_project.run("logs", "endpoint.api")
    assert r.exit_code == 1 and "No endpoint.api in the state" in r.output, r
    assert tmp_project.run("apply", "-auto-approve").exit_code == 0
    r = tmp_project.run("logs", "endpoint.api")
    assert r.exit_code == 1, r
    assert "The testing provider has no logs" in r.output and "Traceback" not in r.output, r
