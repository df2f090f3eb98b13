"""A secret that flows through a resource attribute stays secret (review item 1).

``endpoint.e.environment`` holds a sensitive variable; ``endpoint.f`` and an
output read it through ``endpoint.e``. Unencrypted state must hold neither the
secret nor a value derived from it; a later targeted apply must still send
``endpoint.f`` the real value (not the stored digest marker); ``output --json``
shows such an output as Terraform does.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.fixtures.project import Project

SECRET = "s3cret-token-123"
CONFIG = '''variable "token" {
  type      = string
  sensitive = true
}

variable "replicas" {
  type    = number
  default = 1
}

provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  provider    = provider.testing
  model       = model.m
  environment = { TOKEN = var.token }
}

endpoint "f" {
  provider    = provider.testing
  model       = model.m
  replicas    = var.replicas
  environment = { UPSTREAM = endpoint.e.environment.TOKEN }
}

output "token" {
  value = endpoint.e.environment.TOKEN
}

output "url" {
  value = endpoint.e.url
}
'''
ENV = {"MLF_VAR_token": SECRET}


def _project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", CONFIG)
    tmp_project.write("m.onnx", "weights")
    return tmp_project


def _stored(p: Project) -> str:
    return "".join(f.read_text() for f in p.path.glob("mlform.state.json*"))


def _remote(p: Project) -> dict:  # type: ignore[type-arg]
    objs = json.loads((p.path / ".mlform" / "testing-objects.json").read_text())
    return {o["address"]: o["attributes"] for o in objs.values()}


def test_derived_values_are_sensitive_in_plan_state_and_outputs(tmp_project: Project) -> None:
    p = _project(tmp_project)
    r = p.run("apply", "--auto-approve", env=ENV)
    assert r.exit_code == 0, r
    assert SECRET not in r.output
    assert SECRET not in _stored(p)
    assert _remote(p)["endpoint.f"]["environment"] == {"UPSTREAM": SECRET}  # the provider got the value

    out = p.run("output", "--json", env=ENV)
    assert out.exit_code == 0, out
    doc = json.loads(out.stdout)
    assert doc["token"] == {"sensitive": True}  # no value: state keeps only a digest
    assert doc["url"]["sensitive"] is False and doc["url"]["value"].startswith("http://127.0.0.1")
    assert "__mlform_sensitive" not in out.stdout
    assert 'output "token" is sensitive' in out.stderr
    assert p.run("output", env=ENV).stdout.count("token = (sensitive value)") == 1

    again = p.run("plan", "--detailed-exitcode", env=ENV)
    assert again.exit_code == 0, again  # the stored digests match the configuration: no change


def test_a_targeted_apply_sends_the_dependant_the_secret_not_its_digest(tmp_project: Project) -> None:
    p = _project(tmp_project)
    assert p.run("apply", "--auto-approve", env=ENV).exit_code == 0
    r = p.run("apply", "--auto-approve", "--target", "endpoint.f", "--var", "replicas=2", env=ENV)
    assert r.exit_code == 0, r
    assert "1 to change" in r.output and "environment" not in r.output  # only replicas moved
    f = _remote(p)["endpoint.f"]
    assert f["replicas"] == 2 and f["environment"] == {"UPSTREAM": SECRET}
    assert "__mlform_sensitive" not in json.dumps(_remote(p))


def test_with_encryption_output_json_shows_the_sensitive_value(tmp_project: Project) -> None:
    p = _project(tmp_project)
    env = {**ENV, "MLFORM_STATE_KEY": base64.b64encode(b"k" * 32).decode()}
    assert p.run("apply", "--auto-approve", env=env).exit_code == 0
    doc = json.loads(p.run("output", "--json", env=env).stdout)
    assert doc["token"] == {"sensitive": True, "value": SECRET}


def test_a_saved_plan_is_private_and_says_it_holds_sensitive_values(tmp_project: Project) -> None:
    p = _project(tmp_project)
    r = p.run("plan", "--out", "p.mlfplan", env=ENV)
    assert r.exit_code == 0, r
    assert "Saved the plan to: p.mlfplan" in r.output
    assert "holds sensitive values" in r.output
    assert (Path(p.path / "p.mlfplan").stat().st_mode & 0o777) == 0o600


def test_with_encryption_a_saved_plan_is_sealed_with_the_state_key(tmp_project: Project) -> None:
    p = _project(tmp_project)
    env = {**ENV, "MLFORM_STATE_KEY": base64.b64encode(b"k" * 32).decode()}
    r = p.run("plan", "--out", "p.mlfplan", env=env)
    assert r.exit_code == 0, r
    assert SECRET.encode() not in (p.path / "p.mlfplan").read_bytes()
    shown = p.run("show", "--json", "p.mlfplan", env=env)
    assert shown.exit_code == 0, shown
    assert json.loads(shown.stdout)["variables"]["token"] == {"value": None}
    nokey = p.run("apply", "p.mlfplan", env=ENV)
    assert nokey.exit_code == 1 and "MLFORM_STATE_KEY" in nokey.output, nokey
    applied = p.run("apply", "p.mlfplan", env=env)
    assert applied.exit_code == 0, applied
    assert _remote(p)["endpoint.f"]["environment"] == {"UPSTREAM": SECRET}


def test_a_suite_targeting_the_endpoint_does_not_hide_its_target(tmp_project: Project) -> None:
    # A ref attribute (target = endpoint.e) keeps only address, URL and digests: not secret.
    p = _project(tmp_project)
    p.write("golden.jsonl", '{"input": [[1.0]], "expected": 0}\n')
    p.write("suite.mlf.hcl", 'eval_suite "s" {\n  provider = provider.testing\n  target   = endpoint.e\n'
                             '  dataset  = "./golden.jsonl"\n}\n')
    r = p.run("plan", env=ENV)
    assert r.exit_code == 0, r
    block = r.stdout[r.stdout.index('eval_suite "s"'):]
    assert 'address = "endpoint.e"' in block.split("}")[0], r

