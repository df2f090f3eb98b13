"""examples/ci/github/mlform.yml, run locally so the example cannot rot: the workflow's own
shell steps, in order, against a copy of the quickstart, with `gh` replaced by a recorder.

pull request (refused by a Rego policy: comment posted, check failed) -> a fix pushed (the
same comment updated in place, check passes) -> merge (plan saved, the exact plan applied)
-> the scheduled drift check (no drift; then a server stopped outside mlform: an issue)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.project import REPO_ROOT

WORKFLOW = REPO_ROOT / "examples" / "ci" / "github" / "mlform.yml"

FAKE_GH = r'''#!PYTHON
"""gh, as the workflow calls it: records each call; comments and issues live in a JSON file."""
import json, os, sys
db_path = os.environ["FAKE_GH_DB"]
db = json.load(open(db_path)) if os.path.exists(db_path) else {"comments": [], "issues": [], "calls": []}
args = sys.argv[1:]
db["calls"].append(args)
def body(flag):
    v = args[args.index(flag) + 1]
    return open(v[len("body=@"):]).read() if v.startswith("body=@") else open(v).read()
if args[:1] == ["api"]:
    if "--method" not in args:  # list the pull request's comments, as --jq selects them
        for c in db["comments"]:
            if c["body"].startswith("<!-- mlform-plan-comment -->"):
                print(c["id"])
    elif args[args.index("--method") + 1] == "POST":
        db["comments"].append({"id": len(db["comments"]) + 100, "body": body("-F")})
    else:
        cid = int(args[3].rsplit("/", 1)[1])
        next(c for c in db["comments"] if c["id"] == cid)["body"] = body("-F")
elif args[:2] == ["issue", "list"]:
    print(db["issues"][0]["number"] if db["issues"] else "")
elif args[:2] == ["issue", "create"]:
    db["issues"].append({"number": 7, "title": args[args.index("--title") + 1], "body": body("--body-file")})
elif args[:2] == ["issue", "comment"]:
    db["issues"][0].setdefault("comments", []).append(body("--body-file"))
json.dump(db, open(db_path, "w"))
'''


def _steps(job: str) -> dict[str, str]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return {s["name"]: s["run"] for s in doc["jobs"][job]["steps"] if "run" in s and "name" in s}


class Runner:
    """Runs a step's script as GitHub's runner does (bash -e), in the project directory."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.project = tmp / "infra"
        self.bin = tmp / "bin"
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(FAKE_GH.replace("PYTHON", sys.executable))
        gh.chmod(0o755)
        self.db = tmp / "gh.json"
        self.summary = tmp / "summary.md"

    def gh(self) -> dict[str, Any]:
        return json.loads(self.db.read_text()) if self.db.exists() else {"comments": [], "issues": []}

    def run(self, script: str, **env: str) -> tuple[int, dict[str, str], str]:
        out = self.tmp / "github_output"
        out.write_text("")
        full = {**os.environ, "PATH": f"{self.bin}:{Path(sys.executable).parent}:{os.environ['PATH']}",
                "GITHUB_OUTPUT": str(out), "GITHUB_STEP_SUMMARY": str(self.summary),
                "GITHUB_REPOSITORY": "acme/ml", "FAKE_GH_DB": str(self.db), "MLFORM_DIR": "infra",
                "MLFORM_REGO": "../policy", "NO_COLOR": "1", **env}
        full.pop("MLFORM_STATE_KEY", None)
        r = subprocess.run(["bash", "-e", "-c", script], cwd=self.project, env=full, capture_output=True,
                           text=True, timeout=300)
        outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        return r.returncode, outputs, r.stdout + r.stderr


@pytest.fixture
def ci(tmp_path: Path) -> Any:
    shutil.copytree(REPO_ROOT / "examples" / "quickstart", tmp_path / "infra",
                    ignore=shutil.ignore_patterns(".mlform", "mlform.state.json*"))
    shutil.copytree(REPO_ROOT / "examples" / "ci" / "policy", tmp_path / "policy")
    runner = Runner(tmp_path)
    yield runner
    if (runner.project / "mlform.state.json").exists():  # never leave a server behind
        subprocess.run([str(Path(sys.executable).parent / "mlform"), "destroy", "--auto-approve"],
                       cwd=runner.project, capture_output=True, timeout=120)


def _set_team(project: Path, team: str | None) -> None:
    hcl = project / "main.mlf.hcl"
    text = hcl.read_text()
    text = text.replace('metadata = { owner = "quickstart" }',
                        f'metadata = {{ owner = "quickstart"{", team = " + json.dumps(team) if team else ""} }}')
    hcl.write_text(text)


def test_the_workflow_file_is_valid_github_actions_yaml() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    triggers = doc[True]  # YAML 1.1 reads the key `on` as true
    assert set(triggers) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    jobs = doc["jobs"]
    assert jobs["apply"]["environment"] == "production" and jobs["apply"]["needs"] == "plan-main"
    # plan-then-apply of main and the drift check share one group that is never cancelled
    groups = {j: jobs[j]["concurrency"] for j in ("plan-main", "apply", "drift")}
    assert {g["group"] for g in groups.values()} == {"mlform-apply"}
    assert not any(g["cancel-in-progress"] for g in groups.values())
    assert jobs["plan"]["concurrency"]["cancel-in-progress"] is True


def test_pull_request_merge_and_drift_steps_against_the_quickstart(ci: Runner) -> None:
    plan = _steps("plan")
    code, out, log = ci.run(plan["Plan"])
    assert code == 0, log
    assert out == {"exitcode": "2", "policy": "3"}  # changes; the Rego set wants metadata.team
    assert ci.run(plan["Comment on the pull request"], PR_NUMBER="12")[0] == 0
    (comment,) = ci.gh()["comments"]
    assert comment["body"].startswith("<!-- mlform-plan-comment -->")
    assert "⛔ **Refused by policy**" in comment["body"] and "model.sentiment has no metadata.team" in comment["body"]
    code, _, log = ci.run(plan["Policy result"], POLICY=out["policy"])
    assert code == 3 and "A policy refused the plan" in log

    _set_team(ci.project, "search")  # the fix, pushed to the pull request
    code, out, log = ci.run(plan["Plan"])
    assert (code, out) == (0, {"exitcode": "2", "policy": "0"}), log
    assert ci.run(plan["Comment on the pull request"], PR_NUMBER="12")[0] == 0
    (comment,) = ci.gh()["comments"]  # the same comment, updated in place
    assert "**Plan:** 3 to add, 0 to change, 0 to destroy." in comment["body"]
    assert "⛔" not in comment["body"] and "accuracy ≥ 0.85" in comment["body"]
    assert ci.run(plan["Policy result"], POLICY=out["policy"])[0] == 0

    main = _steps("plan-main")  # merged: plan on main, then apply that exact plan
    code, out, log = ci.run(main["Plan"])
    assert (code, out) == (0, {"changes": "true"}), log
    assert "<!-- mlform-plan-comment -->" in ci.summary.read_text()
    saved = (ci.project / "plan.bin").read_bytes()
    code, _, log = ci.run(_steps("apply")["Apply the saved plan"])
    assert code == 0, log
    assert "Apply complete! Resources: 3 added" in log
    assert (ci.project / "plan.bin").read_bytes() == saved
    code, _, log = ci.run(_steps("apply")["Apply the saved plan"])  # the same plan again: stale
    assert code == 1 and "Saved plan is stale" in log

    drift = _steps("drift")["Drift check"]
    code, _, log = ci.run(drift)
    assert code == 0 and "No drift." in log, log
    assert ci.gh()["issues"] == []
    state = json.loads((ci.project / "mlform.state.json").read_text())
    (ep,) = [r for r in state["resources"] if r["address"] == "endpoint.sentiment"]
    os.kill(int(ep["private"]["pid"]), signal.SIGTERM)  # the server stops, outside mlform
    for _ in range(50):
        try:
            os.kill(int(ep["private"]["pid"]), 0)
        except OSError:
            break
        time.sleep(0.1)
    code, _, log = ci.run(drift)
    assert code == 0, log
    (issue,) = ci.gh()["issues"]
    assert issue["title"] == "mlform: drift in infra"
    assert "endpoint.sentiment" in issue["body"] and "Drift" in issue["body"]
    code, _, log = ci.run(drift)  # still drifted: the open issue gets a comment, not a twin
    assert code == 0 and len(ci.gh()["issues"]) == 1 and len(ci.gh()["issues"][0]["comments"]) == 1, log
