"""What the vertex provider says before it calls Vertex AI: settings checked at their lines, the
shipped price table (dated, with its source) behind list_hardware and the plan's cost estimate."""

from __future__ import annotations

import json

from mlform.engine.providers.protocol import ConfigureRequest, ProviderContext
from mlform.providers.vertex import VertexProvider
from mlform.providers.vertex.schema import TABLE
from tests.fixtures.project import Project

PROVIDER = '''provider "vertex" {
  project        = "p"
  location       = "us-central1"
  staging_bucket = BUCKET
}
'''


def config(bucket: str = '"gs://b"', endpoint: str = "") -> str:
    return (PROVIDER.replace("BUCKET", bucket) + 'model "m" {\n  source = "models/model.onnx"\n}\n'
            'endpoint "e" {\n  provider = provider.vertex\n  model    = model.m\n' + endpoint + "}\n")


def test_list_hardware_is_the_dated_table(tmp_project: Project) -> None:
    p = VertexProvider()
    p.configure(ConfigureRequest({"project": "p", "location": "us-central1", "staging_bucket": "gs://b"},
                                 ProviderContext(tmp_project.path, tmp_project.path / ".mlform", "vertex")))
    options = {o.name: o for o in p.list_hardware().options}
    assert set(options) == set(TABLE["machine_types"])
    assert TABLE["as_of"] and TABLE["source"]
    assert all(o.as_of == TABLE["as_of"] and o.price_per_hour > 0 for o in options.values())
    assert options["a2-highgpu-1g"].accelerator == "nvidia-tesla-a100"
    assert options["n1-standard-2"].accelerator == "none"


def test_the_plan_prices_machine_accelerators_and_replicas(tmp_project: Project) -> None:
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(endpoint='  machine_type      = "n1-standard-4"\n'
                                                      '  accelerator_type  = "NVIDIA_TESLA_T4"\n'
                                                      '  accelerator_count = 2\n  min_replicas      = 2\n'
                                                      '  max_replicas      = 4\n'))
    r = tmp_project.run("plan", "--out", "p.plan")
    assert r.exit_code == 0, r.output
    m, t4 = TABLE["machine_types"]["n1-standard-4"], TABLE["accelerators"]["NVIDIA_TESLA_T4"]
    want = round((m["price_per_hour"] + 2 * t4["price_per_hour"]) * 2, 4)
    shown = json.loads(tmp_project.run("show", "--json", "p.plan").stdout)
    ep = next(c for c in shown["resource_changes"] if c["address"] == "endpoint.e")
    assert ep["change"]["after"]["estimated_cost_per_hour"] == want
    assert ep["change"]["after"]["instance_type"] == "n1-standard-4"
    assert f"${want:.2f}/h" in r.stdout


def test_settings_are_checked_at_their_lines(tmp_project: Project) -> None:
    tmp_project.copy_model()
    tmp_project.write("main.mlf.hcl", config(bucket='"my-bucket"', endpoint="  min_replicas = 3\n"
                                                                           "  max_replicas = 2\n"))
    r = tmp_project.run("plan")
    assert r.exit_code == 1
    assert "Error: Invalid staging_bucket" in r.stderr and "main.mlf.hcl:1:1:" in r.stderr  # the provider block
    assert "gs://BUCKET" in r.stderr
    r = tmp_project.run("validate")
    assert "Error: max_replicas is below min_replicas" in r.stderr and "main.mlf.hcl:13:" in r.stderr
    assert "Traceback" not in r.output
