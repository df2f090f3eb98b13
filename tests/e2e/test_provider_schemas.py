"""Provider schemas drive decoding: what a provider declares for a kind is checked
as the common attributes are (unknown with "did you mean", wrong type, missing
required, at file:line:col), its ``force_new`` attributes replace, its
``sensitive`` ones are masked; ``validate`` runs the provider's static checks;
``mlform providers`` and ``mlform providers schema --json`` show them.

``acme`` is a provider this test registers in-process (the testing provider's
object store, with its own endpoint schema and validate_config).
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest

from mlform.engine.config.schema import AttrSpec, BlockSpec
from mlform.engine.providers.protocol import ValidateConfigRequest, ValidateConfigResponse
from mlform.engine.providers.registry import register, unregister
from mlform.engine.providers.schema import GetSchemaResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import CliResult, Project, RenderedDiagnostic, parse_diagnostics


class AcmeProvider(TestProvider):
    """Endpoints with an image (required, replaces on change), an API key (sensitive) and ports."""

    name = "acme"
    kinds = ("endpoint",)

    def get_schema(self) -> GetSchemaResponse:
        return GetSchemaResponse(
            kinds=["endpoint"],
            provider=BlockSpec(attrs={"region": AttrSpec("string", description="where endpoints run")}),
            kind_schemas={"endpoint": BlockSpec(attrs={
                "image": AttrSpec("string", required=True, force_new=True, description="the serving image"),
                "api_key": AttrSpec("string", sensitive=True),
                "ports": AttrSpec("list(number)"),
            })})

    def validate_config(self, req: ValidateConfigRequest) -> ValidateConfigResponse:
        resp = ValidateConfigResponse()
        image = req.config.get("image")
        if isinstance(image, str) and ":" not in image:
            resp.diagnostics.error("Image without a tag", f'"{image}" names no tag. Write "{image}:1.0".',
                                   path=("image",))
        return resp


@pytest.fixture
def acme() -> Iterator[None]:
    register("acme", AcmeProvider)
    try:
        yield
    finally:
        unregister("acme")


MODEL = '''model "m" {
  source = "./models/model.onnx"
}
'''
ACME = '''provider "acme" {
  region = "eu"
}

'''


def _errors(r: CliResult) -> list[RenderedDiagnostic]:
    assert "Traceback" not in r.output, r
    return [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]


def _at(p: Project, needle: str) -> str:
    """``main.mlf.hcl:LINE:COL`` of the first ``needle`` in the file."""
    for n, line in enumerate(p.read("main.mlf.hcl").splitlines(), 1):
        if needle in line:
            return f"main.mlf.hcl:{n}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def _project(p: Project, body: str, acme: bool = True) -> Project:
    """The model, the acme provider block (unless ``acme`` is false) and ``body``."""
    p.write("main.mlf.hcl", (ACME if acme else "") + MODEL + body)
    p.copy_model()
    return p


def test_an_attribute_of_one_provider_is_accepted_there_and_refused_elsewhere(tmp_project: Project,
                                                                             acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "here" {
  model       = model.m
  port        = 8080
  environment = { MODE = "fast" }
}

endpoint "there" {
  provider = provider.acme
  model    = model.m
  image    = "ghcr.io/acme/serve:1.0"
  port     = 8080
}
''')
    for cmd in ("validate", "plan"):
        r = p.run(cmd)
        assert r.exit_code == 1, r
        errs = _errors(r)
        assert [(e.summary, e.location) for e in errs] == [("Unsupported argument", _at(p, "port     = 8080"))], r
        assert 'not expected in endpoint "there"' in errs[0].detail and 'Did you mean "ports"?' in errs[0].detail


def test_an_attribute_only_another_provider_takes_is_refused_on_a_local_endpoint(tmp_project: Project,
                                                                                acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  model = model.m
  image = "ghcr.io/acme/serve:1.0"
}
''')
    r = p.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Unsupported argument", _at(p, "image")), r


def test_provider_declared_attributes_are_valid_on_their_provider(tmp_project: Project, acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  provider = provider.acme
  model    = model.m
  image    = "ghcr.io/acme/serve:1.0"
  ports    = [8080, 8081]
}
''')
    v = p.run("validate")
    assert v.exit_code == 0 and _errors(v) == [], v
    pl = p.run("plan")
    assert pl.exit_code == 0, pl
    assert [x.split("=", 1)[1].strip() for x in pl.stdout.splitlines() if "+ image" in x or "+ ports" in x] == [
        '"ghcr.io/acme/serve:1.0"', "["], pl


def test_a_typo_in_a_provider_declared_attribute_says_did_you_mean(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  model      = model.m
  enviroment = { MODE = "fast" }
}
''', acme=False)
    r = p.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Unsupported argument", _at(p, "enviroment")), r
    assert 'Did you mean "environment"?' in e.detail, r


def test_a_missing_required_provider_attribute_is_reported_at_the_block(tmp_project: Project, acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  provider = provider.acme
  model    = model.m
}
''')
    r = p.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Missing required argument", _at(p, 'endpoint "e"')), r
    assert '"image" is required' in e.detail, r


def test_a_wrong_type_in_a_provider_declared_attribute(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  model = model.m
  port  = "eighty"
}
''', acme=False)
    for cmd in ("validate", "plan"):
        r = p.run(cmd)
        assert r.exit_code == 1, r
        (e,) = _errors(r)
        assert (e.summary, e.location) == ("Incorrect attribute value type", _at(p, '"eighty"')), r
        assert "number required" in e.detail, r


def test_a_wrong_type_known_only_at_plan(tmp_project: Project) -> None:
    p = _project(tmp_project, '''
variable "port" {
  default = "eighty"
}

endpoint "e" {
  model = model.m
  port  = var.port
}
''', acme=False)
    r = p.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Incorrect attribute value type", _at(p, "var.port")), r
    assert "number required" in e.detail, r


def test_validate_places_a_provider_validate_config_diagnostic_at_the_attribute(tmp_project: Project,
                                                                               acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  provider = provider.acme
  model    = model.m
  image    = "ghcr.io/acme/serve"
}
''')
    r = p.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Image without a tag", _at(p, '"ghcr.io/acme/serve"')), r
    assert e.source_line == '  image    = "ghcr.io/acme/serve"' and e.caret, r
    assert 'Write "ghcr.io/acme/serve:1.0"' in e.detail


def test_a_provider_block_attribute_is_checked_against_the_provider_schema(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'provider "local" {\n  gpu = "none"\n}\n')
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location) == ("Unsupported argument", "main.mlf.hcl:2:3"), r
    assert 'not expected in provider "local"' in e.detail and 'Did you mean "gpus"?' in e.detail, r


def test_a_provider_that_is_not_installed_fails_validate_at_the_reference(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", '''provider "kubernetes" {}

model "m" {
  source = "./models/model.onnx"
}

endpoint "e" {
  provider = provider.kubernetes
  model    = model.m
  image    = "nginx:1"
}
''')
    tmp_project.copy_model()
    r = tmp_project.run("validate")
    assert r.exit_code == 1, r
    (e,) = _errors(r)  # one mistake: its attributes are not reported as unknown too
    assert (e.summary, e.location) == ('Provider "kubernetes" is not available', _at(tmp_project, "provider.kubernetes")), r
    assert "endpoint.e" in e.detail and "Available:" in e.detail, r


def test_force_new_and_sensitive_attributes_of_a_provider(tmp_project: Project, acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "e" {
  provider = provider.acme
  model    = model.m
  image    = "ghcr.io/acme/serve:1.0"
  api_key  = "s3cr3t-key"
}
''')
    pl = p.run("plan")
    assert pl.exit_code == 0, pl
    assert "+ api_key = (sensitive value)" in pl.stdout, pl
    assert "s3cr3t-key" not in pl.output, pl
    a = p.run("apply", "--auto-approve")
    assert a.exit_code == 0, a
    (res,) = [r for r in p.state()["resources"] if r["address"] == "endpoint.e"]
    assert ["api_key"] in res["sensitive_paths"], res
    assert "s3cr3t-key" not in p.read("mlform.state.json")

    p.write("main.mlf.hcl", p.read("main.mlf.hcl").replace("serve:1.0", "serve:2.0"))
    r = p.run("plan", "--detailed-exitcode")
    assert r.exit_code == 2, r
    assert "# endpoint.e must be replaced" in r.stdout, r
    (line,) = [x for x in r.stdout.splitlines() if "image" in x]
    assert '"ghcr.io/acme/serve:1.0" -> "ghcr.io/acme/serve:2.0"' in line and "# forces replacement" in line, r


def test_providers_prints_the_tree_of_providers_and_their_resources(tmp_project: Project, acme: None) -> None:
    p = _project(tmp_project, '''
endpoint "local_one" {
  model = model.m
}

endpoint "acme_one" {
  provider = provider.acme
  model    = model.m
  image    = "ghcr.io/acme/serve:1.0"
}
''')
    r = p.run("providers")
    assert r.exit_code == 0, r
    lines = r.stdout.strip().splitlines()
    assert lines[:2] == ["Providers required by configuration:", "."], r
    tree = "\n".join(lines[2:])
    version = p.run("version", "--json")
    v = json.loads(version.stdout)["provider_selections"]
    assert tree == "\n".join([
        "├── provider[acme]",
        "│   └── endpoint.acme_one",
        f"├── provider[builtin] v{v['builtin']}",
        "│   └── model.m",
        f"└── provider[local] v{v['local']}",
        "    └── endpoint.local_one",
    ]), r


def _attr_shape(name: str, a: dict[str, Any]) -> None:
    assert set(a) >= {"type", "description", "required", "optional", "computed", "sensitive",
                      "forces_replacement"}, name
    assert all(isinstance(a[k], bool) for k in ("required", "optional", "computed", "sensitive",
                                                  "forces_replacement")), name
    assert isinstance(a["type"], (str, list)), name


def _block_shape(block: dict[str, Any]) -> None:
    assert set(block) >= {"attributes", "block_types"}
    for name, a in block["attributes"].items():
        _attr_shape(name, a)
    for name, bt in block["block_types"].items():
        assert bt["nesting_mode"] in ("single", "list", "map"), name
        _block_shape(bt["block"])


def test_providers_schema_json_has_terraforms_shape_and_every_installed_provider(tmp_project: Project,
                                                                                acme: None) -> None:
    r = tmp_project.run("providers", "schema", "-json")  # Terraform's spelling
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["format_version"] == "1.0"
    schemas = doc["provider_schemas"]
    assert {"builtin", "local", "acme"} <= set(schemas)
    for name, s in schemas.items():
        _block_shape(s["provider"]["block"])
        for kind, rs in s["resource_schemas"].items():
            _block_shape(rs["block"])
    local = schemas["local"]
    assert set(local["resource_schemas"]) == {"endpoint"}
    ep = local["resource_schemas"]["endpoint"]["block"]
    assert ep["attributes"]["port"]["type"] == "number" and ep["attributes"]["port"]["optional"] is True
    assert ep["attributes"]["environment"]["type"] == ["map", "string"]
    assert ep["attributes"]["model"]["required"] is True and ep["attributes"]["model"]["references"] == ["model"]
    assert ep["attributes"]["url"]["computed"] is True and ep["attributes"]["url"]["optional"] is False
    assert ep["block_types"]["rollout"]["nesting_mode"] == "single"
    assert "gpus" in local["provider"]["block"]["attributes"]
    assert set(schemas["builtin"]["resource_schemas"]) == {"model", "prompt", "eval_suite"}
    assert schemas["builtin"]["resource_schemas"]["eval_suite"]["block"]["block_types"]["metric"][
        "nesting_mode"] == "map"
    acme_ep = schemas["acme"]["resource_schemas"]["endpoint"]["block"]["attributes"]
    assert acme_ep["image"]["forces_replacement"] is True and acme_ep["image"]["required"] is True
    assert acme_ep["api_key"]["sensitive"] is True
    assert "port" not in acme_ep and "model" in acme_ep


def test_providers_schema_without_json_says_the_flag_is_required(tmp_project: Project) -> None:
    r = tmp_project.run("providers", "schema")
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert e.summary == "The --json flag is required", r
