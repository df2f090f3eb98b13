"""Drift on the FAKE Vertex AI (tests/fakes/vertex): a traffic split edited outside mlform, a model
undeployed, an endpoint deleted, each shown by plan and put right by apply; import adopts an endpoint.
Changes "outside mlform" are made with the real aiplatform clients, as a script or gcloud would."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from mlform.providers.vertex.client import Api
from tests.e2e.rollout_support import ROW, digest_of, vid
from tests.e2e.vertex.support import attrs, mlform, state, vertex_quickstart
from tests.fixtures.vertex_fake import VertexFake

pytestmark = pytest.mark.slow
V1 = vid(digest_of("sentiment-v1"))


def api(vf: VertexFake) -> Api:
    return Api({"project": vf.project, "location": vf.location, "staging_bucket": vf.bucket,
                "api_endpoint": vf.api_endpoint})


def split(vf: VertexFake, proj: Path) -> dict[str, int]:
    ep = vf.fake.endpoint(attrs(proj)["endpoint_name"])
    return {d.display_name: ep.traffic_split.get(d.id, 0) for d in ep.deployed_models}


def noop(*_a: object, **_k: object) -> None:
    return None


def test_a_split_edited_outside_mlform_is_planned_back(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    a, at = api(vertex_fake), attrs(proj)
    res = {"machine_type": "n1-standard-2", "min_replicas": 1, "max_replicas": 1}
    # someone deploys the same registry model again by hand and gives it half the traffic
    a.deploy(at["endpoint_name"], at["model_resource"], "by-hand", res, {"0": 50, at["deployed_model_id"]: 50}, noop)
    assert split(vertex_fake, proj) == {V1: 50, "by-hand": 50}
    r = mlform(proj, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "~ endpoint \"sentiment\"" in r.stdout or "endpoint.sentiment will be updated in-place" in r.stdout
    assert "- by-hand        = 50 -> null" in r.stdout and f"~ {V1} = 50 -> 100" in r.stdout
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert split(vertex_fake, proj) == {V1: 100}  # by-hand undeployed, all traffic back
    assert mlform(proj, "plan", "--detailed-exitcode").returncode == 0


def test_a_model_undeployed_outside_mlform_is_deployed_again(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    at = attrs(proj)
    api(vertex_fake).undeploy(at["endpoint_name"], at["deployed_model_id"], {}, noop)
    r = mlform(proj, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "The deployed model of endpoint.sentiment was undeployed outside mlform" in r.stdout + r.stderr
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert split(vertex_fake, proj) == {V1: 100}
    assert attrs(proj)["deployed_model_id"] != at["deployed_model_id"]
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == V1


def test_an_endpoint_deleted_outside_mlform_is_created_again(tmp_path: Path, vertex_fake: VertexFake) -> None:
    proj = vertex_quickstart(tmp_path, vertex_fake)
    assert mlform(proj, "apply", "--auto-approve").returncode == 0
    old = attrs(proj)["endpoint_name"]
    vertex_fake.fake.delete_endpoint_outside(old)
    r = mlform(proj, "plan", "--detailed-exitcode")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Vertex AI endpoint of endpoint.sentiment is gone" in r.stdout + r.stderr
    assert "endpoint.sentiment will be created" in r.stdout
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert attrs(proj)["endpoint_name"] != old and split(vertex_fake, proj) == {V1: 100}


def test_import_adopts_an_endpoint(tmp_path: Path, vertex_fake: VertexFake) -> None:
    made = vertex_quickstart(tmp_path / "a", vertex_fake)
    assert mlform(made, "apply", "--auto-approve").returncode == 0
    name = attrs(made)["endpoint_name"]
    proj = vertex_quickstart(tmp_path / "b", vertex_fake)
    assert mlform(proj, "apply", "--auto-approve", "--target", "eval_suite.golden").returncode == 0
    bad = mlform(proj, "import", "endpoint.sentiment", "endpoints/1")
    assert bad.returncode == 1 and "projects/PROJECT/locations/LOCATION/endpoints/ID" in bad.stderr
    gone = mlform(proj, "import", "endpoint.sentiment", "projects/mlform-test/locations/us-central1/endpoints/404")
    assert gone.returncode == 1 and "endpoints/404 does not exist" in gone.stderr
    r = mlform(proj, "import", "endpoint.sentiment", name)
    assert r.returncode == 0, r.stdout + r.stderr
    at = attrs(proj)
    assert at["endpoint_name"] == name and at["active_model_digest"] == digest_of("sentiment-v1")
    assert at["traffic"] == {V1: 100}
    r = mlform(proj, "plan")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "endpoint.sentiment will be created" not in r.stdout and "must be replaced" not in r.stdout
    assert "# rollout" not in r.stdout  # the same model: nothing to roll out
    r = mlform(proj, "apply", "--auto-approve")  # adopted: it now serves as the configuration says
    assert r.returncode == 0, r.stdout + r.stderr
    assert split(vertex_fake, proj) == {V1: 100} and attrs(proj)["endpoint_name"] == name
    assert len(state(proj)["resources"]) == 3


def test_an_endpoint_created_by_a_killed_apply_is_adopted(tmp_path: Path, vertex_fake: VertexFake) -> None:
    """kill -9 while DeployModel runs: state never recorded the endpoint; the next apply finds it by its
    mlform-operation label and adopts it instead of creating a second one."""
    import os
    import signal
    import subprocess
    import time

    from tests.e2e.rollout_support import CLI
    from tests.fakes.vertex import Fault

    proj = vertex_quickstart(tmp_path, vertex_fake)
    vertex_fake.fake.inject(Fault("DeployModel", "slow", seconds=4))
    p = subprocess.Popen([*CLI, "apply", "--auto-approve"], cwd=proj, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, env=os.environ)
    try:
        deadline = time.monotonic() + 60
        while "DeployModel" not in vertex_fake.fake.calls:
            assert p.poll() is None and time.monotonic() < deadline, "the apply never deployed"
            time.sleep(0.1)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert len(vertex_fake.fake.reg.endpoints) == 1
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(vertex_fake.fake.reg.endpoints) == 1  # adopted, not duplicated
    assert split(vertex_fake, proj) == {V1: 100}
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == V1
