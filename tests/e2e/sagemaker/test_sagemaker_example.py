"""examples/sagemaker as its README walks through it, against moto extended as the README's
`python -m tests.fixtures.sagemaker_moto` extends it (the fixture's server here, on a free port)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.e2e.rollout_support import ROW
from tests.fixtures.sagemaker_moto import SageMakerMoto

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_the_example_walk_through(tmp_path: Path, sagemaker_moto: SageMakerMoto) -> None:
    for name in ("sagemaker", "quickstart"):
        shutil.copytree(EXAMPLES / name, tmp_path / name, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    proj = tmp_path / "sagemaker"
    cfg = proj / "main.mlf.hcl"
    cfg.write_text(cfg.read_text().replace("http://127.0.0.1:8480", sagemaker_moto.url)
                   .replace('"mlform-artifacts"', f'"{sagemaker_moto.bucket}"'))

    def mlform(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "mlform.engine.cli.main", *args], cwd=proj, text=True,
                              capture_output=True, timeout=300, check=False)
    r = mlform("apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ml.c5.large" in r.stdout
    name = mlform("output", "--raw", "endpoint_name").stdout.strip()
    got = sagemaker_moto.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=json.dumps(ROW), ContentType="application/json")
    assert json.loads(got["Body"].read())["outputs"][0]["name"] == "probabilities"
    r = mlform("apply", "--auto-approve", "--var", "model_file=../quickstart/models/sentiment-v2.onnx")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "step 3/3" in r.stdout + r.stderr
    r = mlform("destroy", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert name not in [e["EndpointName"] for e in sagemaker_moto.client("sagemaker").list_endpoints()["Endpoints"]]
