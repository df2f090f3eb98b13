"""After a gate blocks a new model or prompt, every view says which version serves and why the
declared one was rejected: ``state show``, ``show``, ``output`` (and the state data behind them).

The examples as a user runs them (real servers on 127.0.0.1, the CLI as a subprocess): the
quickstart's broken model, stopped by its eval suite; a prompt the suite fails; a prompt whose
rollout gate fails on the staged version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.rollout_support import copy_quickstart, mlform, state

PROMPTS = Path(__file__).resolve().parents[2] / "examples" / "prompts"
BROKEN = ["--var", "model_file=models/sentiment-broken.onnx"]

pytestmark = pytest.mark.slow


def resource(proj: Path, address: str) -> dict[str, Any]:
    return next(r for r in state(proj)["resources"] if r["address"] == address)


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    cfg = proj / "main.mlf.hcl"
    cfg.write_text(cfg.read_text() + '\noutput "model_digest" {\n  value = model.sentiment.digest\n}\n')
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def test_a_model_the_suite_rejects_is_not_reported_as_serving(quickstart: Path) -> None:
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    good = resource(quickstart, "model.sentiment")["attributes"]["digest"]

    r = mlform(quickstart, "apply", "--auto-approve", *BROKEN)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "accuracy = 0.375, required >= 0.85" in r.stderr
    assert f"state keeps {good[:19]}, which serves" in r.stdout
    assert "Apply failed. 0 added, 0 changed, 0 destroyed" in r.stdout  # the model's change did not stick
    marks = [c["rejected"] for c in state(quickstart)["history"][-1]["changes"] if c.get("rejected")]
    assert {m["by"] for m in marks} == {"eval_suite.golden"}
    bad = marks[0]["version"]
    assert bad != good and all(m["version"] == bad and m["serving"] == good for m in marks)
    assert resource(quickstart, "model.sentiment")["attributes"]["digest"] == good
    assert resource(quickstart, "endpoint.sentiment")["attributes"]["active_model_digest"] == good

    r = mlform(quickstart, "state", "show", "model.sentiment")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(
        f"# model.sentiment:\n# serving {good[:19]}; {bad[:19]} (models/sentiment-broken.onnx) was rejected by "
        "eval_suite.golden on ")
    assert "\n#   accuracy = 0.375, required >= 0.85; f1 = " in r.stdout
    assert f'    digest     = "{good}"\n' in r.stdout and bad not in r.stdout.split("{", 1)[1]

    r = mlform(quickstart, "state", "show", "endpoint.sentiment")
    assert f"# serving {good[:19]}; model.sentiment {bad[:19]} (models/sentiment-broken.onnx) was rejected" \
        in r.stdout

    r = mlform(quickstart, "output")
    assert r.returncode == 0, r.stderr
    assert f'model_digest = "{good}"\n' in r.stdout
    assert f"Warning: model.sentiment {bad[:19]} was rejected" in r.stderr
    assert f"Outputs describe {good[:19]}, the version that serves" in r.stderr
    assert "accuracy = 0.375, required >= 0.85" in r.stderr
    r = mlform(quickstart, "output", "--raw", "model_digest")
    assert r.stdout == good and "was rejected" in r.stderr  # scripts read stdout; people see the warning

    r = mlform(quickstart, "show")
    assert f"# model.sentiment:\n# serving {good[:19]}; {bad[:19]}" in r.stdout
    assert f"# endpoint.sentiment:\n# serving {good[:19]}; model.sentiment {bad[:19]}" in r.stdout

    # The configuration still asks for the broken model: the plan proposes it again.
    r = mlform(quickstart, "plan", *BROKEN)
    assert f'~ digest     = "{good}" -> "{bad}"' in r.stdout
    assert "Eval suites this apply will run: eval_suite.golden" in r.stdout

    # Back to the good model: the suite passes again, and nothing is rejected any more.
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    r = mlform(quickstart, "state", "show", "model.sentiment")
    assert r.stdout.startswith('# model.sentiment:\nmodel "sentiment" {\n')
    r = mlform(quickstart, "output")
    assert "rejected" not in r.stdout + r.stderr


@pytest.fixture
def prompts(tmp_path: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    import shutil

    proj = tmp_path / "prompts"
    shutil.copytree(PROMPTS, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def test_a_rejected_prompt_is_marked_and_the_serving_one_reported(prompts: Path) -> None:
    v1 = resource(prompts, "prompt.classify")["attributes"]["version"]
    r = mlform(prompts, "output", "prompt_version")
    assert r.stdout == f'"{v1}"\n' and r.stderr == ""

    # The suite fails the chatty template before anything is staged.
    r = mlform(prompts, "apply", "--auto-approve", "--var", "template_file=prompts/chatty.txt")
    assert r.returncode == 1, r.stdout + r.stderr
    chatty = resource(prompts, "eval_suite.contract")["attributes"]["results"]["digests"]["prompt"]
    assert chatty != v1 and resource(prompts, "prompt.classify")["attributes"]["version"] == v1
    r = mlform(prompts, "output")
    assert f'prompt_version = "{v1}"\n' in r.stdout
    assert f"Warning: prompt.classify {chatty} was rejected" in r.stderr
    assert f"Outputs describe {v1}, the version that serves" in r.stderr

    # max_tokens = 2: the suite passes on the raw model, the rollout gate fails on the staged version.
    r = mlform(prompts, "apply", "--auto-approve", "--var", "max_tokens=2")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Rollout of endpoint.app was rolled back" in r.stderr
    assert resource(prompts, "prompt.classify")["attributes"]["version"] == v1
    assert resource(prompts, "endpoint.app")["attributes"]["prompt"]["version"] == v1
    short = next(c["rejected"] for c in state(prompts)["history"][-1]["changes"]
                 if c["address"] == "prompt.classify")
    assert short["by"] == "eval_suite.contract" and short["serving"] == v1
    assert short["reason"].startswith("json_schema: pass rate 0 (0/6), required >= 1")
    cut = short["version"]

    r = mlform(prompts, "output", "--json")
    assert json.loads(r.stdout)["prompt_version"]["value"] == v1
    assert f"Warning: prompt.classify {cut} was rejected" in r.stderr

    r = mlform(prompts, "state", "show", "prompt.classify")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"# prompt.classify:\n# serving {v1}; {cut} was rejected by eval_suite.contract on ")
    assert f'    version      = "{v1}"\n' in r.stdout
    listed = r.stdout.split("Versions (oldest first):\n")[1]
    rows = [line for line in listed.splitlines() if line.startswith("  ") and not line.startswith("    ")]
    assert [row.split("  ")[1:3] for row in rows] == [
        [v1, "(current, served by endpoint.app)"], [chatty, "(rejected)"], [cut, "(rejected)"]]
    after_cut = listed.split(f"  {cut}  (rejected)")[1]
    assert after_cut.lstrip().startswith("template sha256:")
    assert "    # rejected by eval_suite.contract on " in after_cut
    assert "eval_suite.contract (gate for endpoint.app)  FAILED" in after_cut  # the gate's own result

    r = mlform(prompts, "state", "show", "endpoint.app")
    assert f"# serving {v1}; prompt.classify {cut} was rejected by eval_suite.contract on " in r.stdout
    r = mlform(prompts, "show")
    assert f"# prompt.classify:\n# serving {v1}; {cut} was rejected" in r.stdout
