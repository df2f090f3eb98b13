"""A prompt change rolls out like a model change (issue #5, docs/rollouts.md), on examples/prompts as a
user runs it: the app endpoint serves (model, prompt), a new prompt version is staged beside the
old one, gated on the staged version, and moved to by canary steps under continuous load.

Real servers on 127.0.0.1 serving examples/prompts/models/assistant.pt (the TorchScript
stand-in for an LLM: no weights can be fetched here), the CLI run as a subprocess; the
router's split is read from the server's own admin API while apply runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e import rollout_support as support
from tests.e2e.rollout_support import mlform

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prompts"
V2 = ["--var", "template_file=prompts/classify-v2.txt"]
CHATTY = ["--var", "template_file=prompts/chatty.txt"]
TRUNCATED = ["--var", "max_tokens=2"]
REVIEW = {"inputs": [{"name": "review", "shape": [1], "datatype": "BYTES", "data": ["great value, I love it"]}]}

pytest.importorskip("torch")
pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = tmp_path / "prompts"
    shutil.copytree(EXAMPLE, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    r = mlform(proj, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    yield proj
    mlform(proj, "destroy", "--auto-approve")


def state(proj: Path) -> dict[str, Any]:
    return json.loads((proj / "mlform.state.json").read_text())


def app(proj: Path) -> dict[str, Any]:
    return next(r for r in state(proj)["resources"] if r["address"] == "endpoint.app")["attributes"]


def Load(url: str) -> support.Load:  # noqa: N802 - reads as the class it makes
    """Two clients sending a review to the app until stopped; every non-200 is kept."""
    return support.Load(url, clients=2, body=REVIEW, pause=0.005)


def Watch(proj: Path) -> support.TrafficWatch:  # noqa: N802
    """The router's split (percent per loaded version) from GET /mlform/info, every 50 ms."""
    return support.TrafficWatch(proj, "app")


def served_reply(url: str) -> tuple[str, str]:
    r = httpx.post(url, json=REVIEW, timeout=10, trust_env=False)
    assert r.status_code == 200, r.text
    return r.json()["model_version"], r.json()["outputs"][0]["data"][0]


def test_a_new_prompt_version_is_staged_gated_and_shifted_under_load(project: Path) -> None:
    before = app(project)
    v1, digest = before["prompt"]["version"], before["active_model_digest"]
    old = f"v-{digest.split(':')[1][:12]}-p{v1}"
    infer = f"{before['url']}/v2/models/app/infer"
    assert before["traffic"] == {old: 100}
    meta = httpx.get(f"{before['url']}/v2/models/app", timeout=5, trust_env=False).json()
    assert meta["inputs"] == [{"name": "review", "datatype": "BYTES", "shape": [-1]}]  # the prompt's variables
    assert served_reply(infer)[0] == old

    # A suite on the app itself: its records are objects of the prompt's variables, sent as such.
    with (project / "main.mlf.hcl").open("a") as f:
        f.write('\neval_suite "app_smoke" {\n  target  = endpoint.app\n  dataset = "data/reviews.jsonl"\n'
                '  assert "json_schema" {\n    schema = { type = "object", required = ["sentiment"] }\n  }\n}\n')
    r = mlform(project, "plan", *V2)
    assert r.returncode == 0, r.stderr
    assert ("# rollout: canary 10% -> 50% -> 100%, bake 2s, gates: eval_suite.contract, "
            "rollback when: error_rate > 0.01, p99_latency_ms > 250") in r.stdout

    with Load(infer) as load, Watch(project) as watch:
        r = mlform(project, "apply", "--auto-approve", *V2)
    assert r.returncode == 0, r.stdout + r.stderr
    after = app(project)
    v2 = after["prompt"]["version"]
    new = f"v-{digest.split(':')[1][:12]}-p{v2}"
    assert v2 != v1 and after["traffic"] == {new: 100} and after["active_model_digest"] == digest
    assert load.errors == [] and load.sent > 50, load.errors[:5]
    assert load.served.get(new, 0) > 0 and load.served.get(old, 0) > 0  # both served during the canary
    assert watch.percents_of(new) == [0, 10, 50, 100], watch.samples
    version, text = served_reply(infer)
    assert version == new and json.loads(text)["sentiment"] == "positive"

    rollout = state(project)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "completed" and rollout["version"] == new
    assert (rollout["from_prompt_version"], rollout["to_prompt_version"]) == (v1, v2)
    assert rollout["from_digest"] == rollout["to_digest"] == digest
    gate, *steps = rollout["steps"]
    assert gate["gate"] == "eval_suite.contract" and gate["passed"] is True and gate["prompt_version"] == v2
    assert [(s["percent"], s["prompt_version"]) for s in steps] == [(10, v2), (50, v2), (100, v2)]
    gated = [e for e in state(project)["history"][-1]["eval_results"] if e.get("gate_for") == "endpoint.app"]
    assert [(e["version"], e["passed"], e["digests"]["prompt"]) for e in gated] == [(new, True, v2)]
    smoke = next(r for r in state(project)["resources"] if r["address"] == "eval_suite.app_smoke")["attributes"]
    assert smoke["passed"] is True and smoke["results"]["digests"]["prompt"] == v2  # run on the new version
    assert smoke["results"]["assertions"][0]["passed_count"] == 6


def test_a_prompt_that_breaks_the_json_contract_never_gets_traffic(project: Path) -> None:
    before = app(project)
    old = next(iter(before["traffic"]))
    infer = f"{before['url']}/v2/models/app/infer"

    # A template without JSON: the suite fails on the raw model before anything is staged.
    with Load(infer) as load, Watch(project) as watch:
        r = mlform(project, "apply", "--auto-approve", *CHATTY)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error: Eval suite eval_suite.contract failed" in r.stderr
    assert "json_schema: pass rate 0 (0/6), required >= 1" in r.stderr
    assert "endpoint.app: skipped because eval_suite.contract failed" in r.stdout + r.stderr
    assert watch.samples and all(s == {old: 100.0} for s in watch.samples), watch.samples
    assert load.errors == [] and set(load.served) == {old}
    assert app(project) == before

    # max_tokens = 2 cuts every reply after two tokens, which only the app's server does (the
    # raw model ignores request parameters): the suite passes on the raw model, the gate on
    # the staged version fails, and that version never gets a request of live traffic.
    with Load(infer) as load, Watch(project) as watch:
        r = mlform(project, "apply", "--auto-approve", *TRUNCATED)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error: Rollout of endpoint.app was rolled back" in r.stderr
    assert "gate eval_suite.contract failed: json_schema: pass rate 0 (0/6), required >= 1" in r.stderr
    assert "Fix the prompt and apply again" in r.stderr and "Traceback" not in r.stderr
    staged = {v for s in watch.samples for v in s} - {old}
    assert len(staged) == 1, watch.samples  # the new version was loaded beside the old one...
    new = staged.pop()
    assert watch.percents_of(new) == [0], watch.samples  # ...and held at 0% until it was removed
    assert watch.samples[-1] == {old: 100.0}
    assert load.errors == [] and set(load.served) == {old}
    assert app(project) == before
    assert served_reply(infer)[0] == old
    rollout = state(project)["history"][-1]["rollouts"][0]
    assert rollout["outcome"] == "rolled_back" and rollout["version"] == new
    assert rollout["reason"].startswith("gate eval_suite.contract failed: json_schema: pass rate 0 (0/6)")
    assert [s.get("percent") for s in rollout["steps"]] == [None]  # the gate, and no traffic step
