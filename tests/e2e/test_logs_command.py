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


LOCAL = '''
model "m" {
  source = "./models/m.onnx"
}

endpoint "api" {
  model = model.m
}
'''


def test_logs_of_a_local_endpoint_are_its_server_log(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", LOCAL)
    tmp_project.copy_model("models/m.onnx")
    assert tmp_project.run("apply", "-auto-approve").exit_code == 0
    try:
        log = next((tmp_project.path / ".mlform").rglob("server.log")).read_text().splitlines()
        assert log, "the server wrote nothing to its log"
        r = tmp_project.run("logs", "endpoint.api")
        assert r.exit_code == 0, r
        assert r.output.splitlines()[:len(log)] == log, r  # the whole file, line by line
        r = tmp_project.run("logs", "endpoint.api", "--tail", "1")
        assert (r.exit_code, r.output.strip()) == (0, log[-1].strip()), r
    finally:
        assert tmp_project.run("destroy", "-auto-approve").exit_code == 0
    r = tmp_project.run("logs", "endpoint.api")
    assert r.exit_code == 1 and "No endpoint.api in the state" in r.output, r
