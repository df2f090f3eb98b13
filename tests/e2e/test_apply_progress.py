"""`mlform apply` of the quickstart with stdout piped, as CI logs it: a few lines per eval suite and bake."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"

pytestmark = pytest.mark.slow


def mlform(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlform.engine.cli.main", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=240)


def test_a_piped_apply_logs_a_few_lines_per_suite_and_bake_lines_within_80_columns(tmp_path: Path) -> None:
    proj = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    try:
        r = mlform(proj, "apply", "--auto-approve")
        assert r.returncode == 0, r.stdout + r.stderr
        suite = [ln for ln in r.stdout.splitlines() if ln.startswith("eval_suite.golden: ")]
        # Creating..., the start, the result, Complete: not one line per 10 records.
        assert len(suite) <= 4, suite
        assert "eval_suite.golden: evaluating 200 records" in suite
        assert any(re.fullmatch(r"eval_suite\.golden: evaluated 200 records in \S+, passed \(accuracy .*\)", ln)
                   for ln in suite), suite
        assert "\r" not in r.stdout and "\x1b[" not in r.stdout  # no redraws, no colour in a log

        # A canary: the gate on the staged version, then three steps with their bakes.
        r = mlform(proj, "apply", "--auto-approve", "--var", "model_file=models/sentiment-v2.onnx")
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        gate = [ln for ln in lines if "gate eval_suite.golden" in ln]
        assert len(gate) <= 3, gate
        bakes = [ln for ln in lines if re.match(r"endpoint\.sentiment: step \d/3 \d+% bake ", ln)]
        assert bakes and all(len(ln) <= 80 for ln in bakes), bakes
        assert any(ln.startswith("endpoint.sentiment: step 3/3 100% bake 3/3s ") for ln in bakes), bakes
        assert len(bakes) <= 3 * 3, bakes  # a 3 s bake: its first and last polls
    finally:
        mlform(proj, "destroy", "--auto-approve")
