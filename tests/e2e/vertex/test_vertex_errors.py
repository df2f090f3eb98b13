"""Errors a Vertex AI user meets, on the FAKE Vertex AI (tests/fakes/vertex): permission denied
(which permission), quota, a machine type not offered in the region, etag conflicts (retried once,
then who changed the endpoint), a failed and a slow operation: each a diagnostic at the endpoint's
source, never a traceback."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.e2e.rollout_support import digest_of, vid
from tests.e2e.vertex.support import attrs, mlform, state, vertex_quickstart
from tests.fakes.vertex import Fault
from tests.fixtures.vertex_fake import VertexFake

pytestmark = pytest.mark.slow
V1, V2 = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))
ENDPOINT = 'endpoint "sentiment" {'


def line_of(proj: Path, text: str) -> int:
    return next(i for i, ln in enumerate((proj / "main.mlf.hcl").read_text().splitlines(), 1) if text in ln)


def no_traceback(out: str) -> None:
    assert "Traceback" not in out and "internal error" not in out.lower(), out


def test_permission_denied_names_the_permission(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    vertex_fake.fake.inject(Fault("CreateEndpoint", "error", grpc.StatusCode.PERMISSION_DENIED,
                                  "Permission 'aiplatform.endpoints.create' denied on resource "
                                  "'//aiplatform.googleapis.com/projects/mlform-test/locations/us-central1' "
                                  "(or it may not exist)."))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    no_traceback(r.stdout + r.stderr)
    assert "Error: Permission denied: CreateEndpoint needs aiplatform.endpoints.create" in r.stderr
    assert f"main.mlf.hcl:{line_of(proj, ENDPOINT)}:" in r.stderr
    assert "roles/aiplatform.user" in r.stderr


def test_quota_and_machine_type(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    cfg = proj / "main.mlf.hcl"
    cfg.write_text(cfg.read_text().replace("  depends_on = [eval_suite.golden]\n",
                                           "  depends_on = [eval_suite.golden]\n  machine_type = \"z9-mega-1\"\n"))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    no_traceback(r.stdout + r.stderr)
    assert "Error: Machine type z9-mega-1 is not available in us-central1" in r.stderr
    assert f"main.mlf.hcl:{line_of(proj, 'machine_type')}:" in r.stderr
    assert vertex_fake.fake.reg.endpoints == {}  # the endpoint it created for nothing is deleted again

    cfg.write_text(cfg.read_text().replace('"z9-mega-1"', '"n1-standard-4"'))
    vertex_fake.fake.inject(Fault("DeployModel", "fail", grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  "The following quota metrics exceed quota limits: "
                                  "aiplatform.googleapis.com/custom_model_serving_cpus"))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    no_traceback(r.stdout + r.stderr)
    assert "Error: Quota exceeded: DeployModel" in r.stderr
    assert "aiplatform.googleapis.com/custom_model_serving_cpus" in r.stderr
    assert f"main.mlf.hcl:{line_of(proj, ENDPOINT)}:" in r.stderr
    r = mlform(proj, "apply", "--auto-approve")  # quota granted: the next apply deploys
    assert r.returncode == 0, r.stdout + r.stderr
    assert attrs(proj)["instance_type"] == "n1-standard-4"
    assert len(vertex_fake.fake.reg.endpoints) == 1


def test_etag_conflicts(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    # one conflict: retried with the fresh etag, the rollout goes on
    vertex_fake.fake.inject(Fault("UpdateEndpoint", "etag", count=1))
    r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert state(proj)["history"][-1]["rollouts"][0]["outcome"] == "completed"
    # two in a row, from another mlform apply: a diagnostic naming it, and the rollout rolled back
    vertex_fake.fake.inject(Fault("UpdateEndpoint", "etag", count=2, by="op-1234"))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    no_traceback(r.stdout + r.stderr)
    assert "was changed by another mlform apply during the rollout" in r.stderr
    assert "operation op-1234" in r.stderr
    ep = vertex_fake.fake.endpoint(attrs(proj)["endpoint_name"])
    assert {d.display_name: ep.traffic_split.get(d.id, 0) for d in ep.deployed_models} == {V2: 100}


def test_failed_and_slow_operations(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake, timeout_seconds="3")
    vertex_fake.fake.inject(Fault("UploadModel", "fail", grpc.StatusCode.INTERNAL,
                                  "Model upload failed: backend error."))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    no_traceback(r.stdout + r.stderr)
    assert "Error: Vertex AI: UploadModel failed" in r.stderr and "backend error" in r.stderr
    vertex_fake.fake.inject(Fault("DeployModel", "slow", seconds=20))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 1
    assert "DeployModel v-" in r.stderr and "did not finish within 3s" in r.stderr
    assert "timeout_seconds" in r.stderr
