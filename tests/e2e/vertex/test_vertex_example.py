"""examples/vertex as its README walks through it, against the FAKE Vertex AI (tests/fakes/vertex):
apply, predict, roll out v2, a broken model blocked by its gate, destroy."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.rollout_support import QUICKSTART, ROW, digest_of, vid
from tests.e2e.vertex.support import mlform
from tests.fixtures.vertex_fake import VertexFake

pytestmark = pytest.mark.slow
EXAMPLE = QUICKSTART.parent / "vertex"


def test_the_vertex_example_walk_through(tmp_path: Path, vertex_fake: VertexFake) -> None:
    ignore = shutil.ignore_patterns(".mlform", "*.state.json*")
    shutil.copytree(QUICKSTART, tmp_path / "quickstart", ignore=ignore)
    proj = tmp_path / "vertex"
    shutil.copytree(EXAMPLE, proj, ignore=ignore)
    fake = ["--var", f"api_endpoint={vertex_fake.api_endpoint}", "--var", f"staging_bucket={vertex_fake.bucket}"]
    r = mlform(proj, "apply", "--auto-approve", *fake)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "n1-standard-2" in r.stdout
    url = mlform(proj, "output", "--raw", "infer_url").stdout
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == vid(digest_of("sentiment-v1"))

    v2 = ["--var", "model_file=../quickstart/models/sentiment-v2.onnx"]
    r = mlform(proj, "plan", *fake, *v2)
    assert "# rollout: canary 10% -> 50% -> 100%" in r.stdout
    r = mlform(proj, "apply", "--auto-approve", *fake, *v2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == vid(digest_of("sentiment-v2"))

    broken = ["--var", "model_file=../quickstart/models/sentiment-broken.onnx"]
    r = mlform(proj, "apply", "--auto-approve", *fake, *broken)
    assert r.returncode == 1 and "Eval suite eval_suite.golden failed" in r.stderr
    assert httpx.post(url, json=ROW, timeout=10).json()["model_version"] == vid(digest_of("sentiment-v2"))

    r = mlform(proj, "destroy", "--auto-approve", *fake)
    assert r.returncode == 0, r.stdout + r.stderr
    assert vertex_fake.fake.reg.endpoints == {}
