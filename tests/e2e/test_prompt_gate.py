"""examples/prompts as a user runs it: a prompt gated by a JSON contract and an LLM judge.

Real servers on 127.0.0.1 serving examples/prompts/models/assistant.pt (the
TorchScript stand-in for an LLM: no weights can be fetched here), the CLI run
as a subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prompts"
CHATTY = ["--var", "template_file=prompts/chatty.txt"]

pytest.importorskip("torch")
pytestmark = pytest.mark.slow


def mlform(cwd: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlform.engine.cli.main", *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = tmp_path / "prompts"
    shutil.copytree(EXAMPLE, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def resource(proj: Path, address: str) -> dict:  # type: ignore[type-arg]
    st = json.loads((proj / "mlform.state.json").read_text())
    return next(r for r in st["resources"] if r["address"] == address)


def history(proj: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((proj / "mlform.state.json").read_text())["history"]


def test_prompt_change_that_breaks_the_json_contract_is_blocked(project: Path) -> None:
    r = mlform(project, "plan")
    assert r.returncode == 0, r.stderr
    assert "Eval suites this apply will run: eval_suite.contract" in r.stdout

    r = mlform(project, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    suite = resource(project, "eval_suite.contract")["attributes"]
    assert suite["passed"] is True
    by_kind = {a["kind"]: a for a in suite["results"]["assertions"]}
    assert by_kind["json_schema"]["passed_count"] == by_kind["json_schema"]["total"] == 6
    assert by_kind["llm_judge"]["passed_count"] == 6  # the stand-in, acting as judge, agrees
    v1 = resource(project, "prompt.classify")["attributes"]["version"]
    assert suite["results"]["digests"]["prompt"] == v1
    model_digest = resource(project, "model.assistant")["attributes"]["digest"]
    assert suite["results"]["digests"]["target"] == model_digest == suite["results"]["digests"]["judge"]
    app = resource(project, "endpoint.app")["attributes"]
    assert app["prompt"]["version"] == v1
    # The endpoint really generates JSON for the prompt (it renders it from the request's variables).
    reply = httpx.post(f"{app['url']}/v2/models/app/infer", timeout=10, json={"inputs": [{
        "name": "review", "shape": [1], "datatype": "BYTES", "data": ["great value, I love it"]}]})
    assert json.loads(reply.json()["outputs"][0]["data"][0])["sentiment"] == "positive"

    r = mlform(project, "plan", "--detailed-exitcode")
    assert r.returncode == 0, r.stdout + r.stderr  # a passing suite whose inputs did not change is not re-run

    # A friendlier template that no longer answers in JSON: the gate blocks it.
    r = mlform(project, "plan", *CHATTY)
    assert "Eval suites this apply will run: eval_suite.contract" in r.stdout
    r = mlform(project, "apply", "--auto-approve", *CHATTY)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error: Eval suite eval_suite.contract failed" in r.stderr
    assert "json_schema: pass rate 0 (0/6), required >= 1" in r.stderr
    assert 'assert "json_schema" {' in r.stderr and "main.mlf.hcl:" in r.stderr
    assert "Traceback" not in r.stderr
    assert "endpoint.app: skipped because eval_suite.contract failed" in r.stdout + r.stderr
    failed = resource(project, "eval_suite.contract")["attributes"]
    v2 = failed["results"]["digests"]["prompt"]
    assert failed["passed"] is False and v2 != v1  # the suite ran on the new version and failed it...
    assert resource(project, "endpoint.app")["attributes"] == app  # ...so what depends on the suite is unchanged
    assert resource(project, "prompt.classify")["attributes"]["version"] == v1  # and state keeps the serving one

    # Still broken: the failed suite runs again and blocks again (a failure is never cached as "fresh").
    r = mlform(project, "apply", "--auto-approve", *CHATTY)
    assert r.returncode == 1 and "json_schema: pass rate 0 (0/6)" in r.stderr
    assert resource(project, "endpoint.app")["attributes"] == app

    evals = [e for h in history(project) for e in h["eval_results"]]
    assert [(e["prompt_version"], e["passed"]) for e in evals] == [(v1, True), (v2, False), (v2, False)]

    r = mlform(project, "state", "show", "prompt.classify")
    assert r.returncode == 0, r.stderr
    shown = r.stdout.split("Versions (oldest first):")[1]
    first, second = shown.split(f"  {v2}  (rejected)")
    assert f"{v1}  (current, served by endpoint.app)" in first and "eval_suite.contract  passed" in first and "json_schema 6/6 = 1 (>= 1)" in first
    assert "llm_judge 6/6 = 1 (>= 0.8)" in first and f"target {model_digest[:19]}" in first
    assert second.count("eval_suite.contract  FAILED") == 2 and "json_schema 0/6 = 0 (>= 1)" in second
    assert "# rejected by eval_suite.contract on " in second and ": json_schema: pass rate 0 (0/6)" in second

    # Back to the JSON template: it passes again and the app gets it.
    r = mlform(project, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    assert resource(project, "endpoint.app")["attributes"]["prompt"]["version"] == v1


def test_llm_judge_failures_block_with_the_judges_pass_rate(project: Path) -> None:
    # Flip the reference answers of three records: outputs still match the
    # schema, but the judge (the stand-in, told the reference) fails them.
    ds = project / "data" / "reviews.jsonl"
    rows = [json.loads(x) for x in ds.read_text().splitlines()]
    for row in rows[:3]:
        row["expected"] = "negative" if row["expected"] == "positive" else "positive"
    ds.write_text("".join(json.dumps(x) + "\n" for x in rows))
    r = mlform(project, "apply", "--auto-approve")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "llm_judge: pass rate 0.5 (3/6), required >= 0.8" in r.stderr
    assert "judge verdict FAIL" in r.stderr
    results = resource(project, "eval_suite.contract")["attributes"]["results"]
    judged = next(a for a in results["assertions"] if a["kind"] == "llm_judge")
    assert [f["line"] for f in judged["failures"]] == [1, 2, 3]
    assert next(a for a in results["assertions"] if a["kind"] == "json_schema")["passed"] is True
    with pytest.raises(StopIteration):
        resource(project, "endpoint.app")
