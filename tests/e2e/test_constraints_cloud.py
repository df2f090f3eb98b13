"""Declared constraints on the cloud providers, through the CLI: SageMaker on moto
(tests/fixtures/sagemaker_moto.py) and the FAKE Vertex AI (tests/fakes/vertex). Each lists its shipped,
dated price table; the model is measured here and scaled to the cloud's hardware; the plan shows the
chosen instance / machine type, its cost and the runner-up; apply deploys exactly that (read back through
boto3's describe_endpoint_config / the aiplatform EndpointServiceClient); a constraint nothing meets fails
at its line naming the closest option (docs/constraints.md).

moto accepts only older SageMaker instance families (ml.t2, ml.c5, ml.m5, ml.g4dn, ml.p3, ...): the
SageMaker constraints below are CPU-only (``accelerators = ["none"]``), whose cheapest option in the
shipped table (ml.t2.medium) moto accepts."""

from __future__ import annotations

import json

import pytest

from mlform.providers.vertex.client import Api
from tests.fixtures.project import Project, RenderedDiagnostic, parse_diagnostics
from tests.fixtures.sagemaker_moto import SageMakerMoto
from tests.fixtures.vertex_fake import VertexFake

pytestmark = pytest.mark.slow


def _write(p: Project, provider_block: str, provider: str, constraints: str) -> None:
    p.copy_model()
    p.write("main.mlf.hcl", provider_block + f'''
model "m" {{
  source = "models/model.onnx"
}}

endpoint "e" {{
  provider = provider.{provider}
  model    = model.m
  constraints {{
{constraints}
  }}
}}
''')


def _errors(out: str) -> list[RenderedDiagnostic]:
    assert "Traceback" not in out and "internal error" not in out, out
    return [d for d in parse_diagnostics(out) if d.severity == "Error"]


def _line(p: Project, needle: str) -> int:
    return next(n for n, line in enumerate(p.read("main.mlf.hcl").splitlines(), 1) if needle in line)


def _attrs(p: Project) -> dict:  # type: ignore[type-arg]
    (res,) = [x for x in p.state()["resources"] if x["address"] == "endpoint.e"]
    return dict(res["attributes"])


def test_sagemaker_constraints_choose_the_instance_and_apply_deploys_it(
        tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    _write(tmp_project, sagemaker_moto.provider_block(), "sagemaker",
           '    p99_latency_ms    = 200\n    max_cost_per_hour = 0.2\n    accelerators      = ["none"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: ml.t2.medium x1, " in r.stdout and "$0.06/h" in r.stdout, r.stdout
    assert "# chosen by constraints: batch 1" in r.stdout and "prices as of " in r.stdout, r.stdout
    assert "# runner-up: ml.c5.large x1, p99 " in r.stdout and "$0.10/h" in r.stdout, r.stdout
    assert "Cost: +$40.88/month" in r.stdout, r.stdout  # 0.056 $/h x 730 h
    try:
        a = tmp_project.run("apply", "-auto-approve")
        assert a.exit_code == 0, a
        at = _attrs(tmp_project)
        assert (at["instance_type"], at["replicas"]) == ("ml.t2.medium", 1), at
        sm = sagemaker_moto.client("sagemaker")
        (v,) = sm.describe_endpoint_config(EndpointConfigName=at["endpoint_config_name"])["ProductionVariants"]
        assert (v["InstanceType"], v["InitialInstanceCount"]) == ("ml.t2.medium", 1), v
        again = tmp_project.run("plan")
        assert again.exit_code == 0 and "No changes." in again.stdout, again
    finally:
        tmp_project.run("destroy", "-auto-approve")


def test_sagemaker_an_unaffordable_accelerator_fails_at_the_cost_limit(
        tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    _write(tmp_project, sagemaker_moto.provider_block(), "sagemaker",
           '    p99_latency_ms    = 200\n    accelerators      = ["nvidia"]\n    max_cost_per_hour = 0.5')
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Cost constraint cannot be met", e
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'max_cost_per_hour')}:"), e
    assert "needs ml.g4dn.xlarge x1 at $0.74/h; max_cost_per_hour = 0.5" in e.detail, e.detail


def test_vertex_constraints_choose_the_machine_type_and_apply_deploys_it(
        tmp_project: Project, vertex_fake: VertexFake) -> None:
    _write(tmp_project, vertex_fake.provider_block(), "vertex",
           '    p99_latency_ms    = 200\n    max_cost_per_hour = 0.2\n    accelerators      = ["none"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: e2-standard-2 x1, " in r.stdout and "$0.08/h" in r.stdout, r.stdout
    assert "# runner-up: n1-standard-2 x1, p99 " in r.stdout and "$0.11/h" in r.stdout, r.stdout
    try:
        a = tmp_project.run("apply", "-auto-approve")
        assert a.exit_code == 0, a
        at = _attrs(tmp_project)
        assert (at["instance_type"], at["replicas"]) == ("e2-standard-2", 1), at
        api = Api({"project": vertex_fake.project, "location": vertex_fake.location,
                   "staging_bucket": vertex_fake.bucket, "api_endpoint": vertex_fake.api_endpoint})
        try:
            ep = api.endpoints.get_endpoint(name=at["endpoint_name"])
        finally:
            api.close()
        (dm,) = ep.deployed_models
        assert dm.dedicated_resources.machine_spec.machine_type == "e2-standard-2", dm
        assert dm.dedicated_resources.min_replica_count == 1
        again = tmp_project.run("plan")
        assert again.exit_code == 0 and "No changes." in again.stdout, again
    finally:
        tmp_project.run("destroy", "-auto-approve")


def test_vertex_a_latency_nothing_meets_fails_at_the_constraint(
        tmp_project: Project, vertex_fake: VertexFake) -> None:
    _write(tmp_project, vertex_fake.provider_block(), "vertex", "    p99_latency_ms = 0.001")
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Latency constraint cannot be met", e
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'p99_latency_ms')}:"), e
    assert "the fastest option is a2-highgpu-1g x1" in e.detail, e.detail


def test_vertex_an_accelerator_constraint_deploys_the_gpu_machine_with_its_accelerator(
        tmp_project: Project, vertex_fake: VertexFake) -> None:
    """g2-standard-4 comes with one NVIDIA L4, which Vertex wants named in the machine spec."""
    _write(tmp_project, vertex_fake.provider_block(), "vertex", '    accelerators = ["nvidia"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: g2-standard-4 x1, " in r.stdout and "$0.26/h" in r.stdout, r.stdout
    try:
        a = tmp_project.run("apply", "-auto-approve")
        assert a.exit_code == 0, a
        at = _attrs(tmp_project)
        api = Api({"project": vertex_fake.project, "location": vertex_fake.location,
                   "staging_bucket": vertex_fake.bucket, "api_endpoint": vertex_fake.api_endpoint})
        try:
            (dm,) = api.endpoints.get_endpoint(name=at["endpoint_name"]).deployed_models
        finally:
            api.close()
        spec = dm.dedicated_resources.machine_spec
        assert (spec.machine_type, spec.accelerator_type.name, spec.accelerator_count) == \
            ("g2-standard-4", "NVIDIA_L4", 1), spec
        again = tmp_project.run("plan")
        assert again.exit_code == 0 and "No changes." in again.stdout, again
    finally:
        tmp_project.run("destroy", "-auto-approve")


def test_sagemaker_an_accelerator_constraint_deploys_the_cheapest_gpu_instance(
        tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    """The cheapest NVIDIA option, ml.g4dn.xlarge, is one moto accepts (ml.g5 it would refuse)."""
    _write(tmp_project, sagemaker_moto.provider_block(), "sagemaker", '    accelerators = ["nvidia"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: ml.g4dn.xlarge x1, " in r.stdout and "$0.74/h" in r.stdout, r.stdout
    assert "scaled from this CPU by the provider's factor" in r.stdout, r.stdout
    try:
        a = tmp_project.run("apply", "-auto-approve")
        assert a.exit_code == 0, a
        at = _attrs(tmp_project)
        sm = sagemaker_moto.client("sagemaker")
        (v,) = sm.describe_endpoint_config(EndpointConfigName=at["endpoint_config_name"])["ProductionVariants"]
        assert (v["InstanceType"], v["InitialInstanceCount"]) == ("ml.g4dn.xlarge", 1), v
        again = tmp_project.run("plan")
        assert again.exit_code == 0 and "No changes." in again.stdout, again
    finally:
        tmp_project.run("destroy", "-auto-approve")


def test_sagemaker_a_declared_throughput_chooses_the_instance_count(
        tmp_project: Project, sagemaker_moto: SageMakerMoto) -> None:
    _write(tmp_project, sagemaker_moto.provider_block(), "sagemaker",
           '    p99_latency_ms     = 200\n    min_throughput_rps = 5000\n    accelerators       = ["none"]')
    r = tmp_project.run("plan", "-out", "p.plan")
    assert r.exit_code == 0, r
    est = json.loads(tmp_project.run("show", "-json", "p.plan").stdout)["estimates"]["endpoint.e"]
    assert est["replicas"] >= 2 and est["capacity_rps"] >= 5000, est  # one server serves ~1,000 req/s at most
    assert f"# estimate: {est['instance_type']} x{est['replicas']}, " in r.stdout, r.stdout
    try:
        a = tmp_project.run("apply", "p.plan")
        assert a.exit_code == 0, a
        at = _attrs(tmp_project)
        sm = sagemaker_moto.client("sagemaker")
        (v,) = sm.describe_endpoint_config(EndpointConfigName=at["endpoint_config_name"])["ProductionVariants"]
        assert (v["InstanceType"], v["InitialInstanceCount"]) == (est["instance_type"], est["replicas"]), v
    finally:
        tmp_project.run("destroy", "-auto-approve")
