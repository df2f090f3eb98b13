"""Golden plans: the human plan text and the plan JSON of example projects.

Each ``tests/golden/<case>/`` holds::

    config/              the project (*.mlf.hcl, model files, datasets)
    case.json            the plan command, its exit code, test-provider behaviour
    prior.state.json     optional: the state before the plan (@PROJECT@ = project path)
    plan.txt             stdout of `mlform plan ... --out plan.mlfplan` (no colour)
    diagnostics.txt      stderr of that command, when it printed anything
    plan.json            `mlform show --json plan.mlfplan`

Volatile values (the temporary project path, the state lineage) are
normalised here, never by loosening the comparison. Regenerate on purpose
with ``MLFORM_UPDATE_GOLDEN=1 pytest tests/e2e/test_golden_plans.py`` and
review the diff (see tests/golden/README.md).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from tests.fixtures.project import Project

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CASES = sorted(p for p in GOLDEN.iterdir() if (p / "case.json").is_file())
UPDATE = os.environ.get("MLFORM_UPDATE_GOLDEN") == "1"
PLANFILE = "plan.mlfplan"


def _spec(case: Path) -> dict[str, Any]:
    return json.loads((case / "case.json").read_text())  # type: ignore[no-any-return]


def _install_hooks(spec: dict[str, Any]) -> None:
    """The test provider's behaviour for this case: replacements, estimates, rollouts."""
    from mlform.providers.testing import TestProvider

    testing = spec.get("testing")
    if not testing:
        return

    def plan_change(req: Any, default: Callable[[Any], Any]) -> Any:
        resp = default(req)
        if resp.planned_state is None:
            return resp
        if "requires_replace" in testing:
            resp.requires_replace = [tuple(p) for p in testing["requires_replace"]]
        if req.address in testing.get("estimates", {}):
            resp.estimates = dict(testing["estimates"][req.address])
        if req.address in testing.get("rollout", []) and req.prior_state is not None:
            resp.rollout = True
        return resp

    TestProvider.hooks["plan_change"] = plan_change


def _set_up(case: Path, spec: dict[str, Any], proj: Project) -> None:
    shutil.copytree(case / "config", proj.path, dirs_exist_ok=True)
    prior = case / "prior.state.json"
    if not prior.exists():
        return
    text = prior.read_text().replace("@PROJECT@", str(proj.path))
    proj.write("mlform.state.json", text)
    # The test provider's "remote" objects, as a previous apply left them.
    state = json.loads(text)
    missing = set(spec.get("remote_objects_missing", []))
    objects = {r["attributes"]["id"]: {"address": r["address"], "operation_id": "golden",
                                       "attributes": r["attributes"]}
               for r in state["resources"]
               if r["provider"] == "provider.testing" and r["address"] not in missing}
    proj.write(".mlform/testing-objects.json", json.dumps(objects, sort_keys=True))


def _normalise_text(text: str, proj: Project) -> str:
    return text.replace(str(proj.path), "<PROJECT>")


def _normalise_json(doc: dict[str, Any], proj: Project) -> dict[str, Any]:
    prior = doc.get("prior_state") or {}
    if prior.get("lineage"):
        prior["lineage"] = "<LINEAGE>"
    if "timestamp" in doc:
        doc["timestamp"] = "<TIMESTAMP>"
    out: dict[str, Any] = json.loads(json.dumps(doc).replace(json.dumps(str(proj.path))[1:-1], "<PROJECT>"))
    return out


def _compare(path: Path, actual: str) -> None:
    if UPDATE:
        path.write_text(actual)
        return
    assert path.exists(), f"{path} is missing; create it with MLFORM_UPDATE_GOLDEN=1 and review it"
    assert actual == path.read_text(), f"{path.relative_to(GOLDEN)} differs (MLFORM_UPDATE_GOLDEN=1 to regenerate)"


def test_enough_golden_cases() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_plan(case: Path, tmp_project: Project) -> None:
    spec = _spec(case)
    _set_up(case, spec, tmp_project)
    _install_hooks(spec)

    r = tmp_project.run(*spec["args"], "--out", PLANFILE)

    assert r.exit_code == spec["exit_code"], r
    assert "Traceback" not in r.output and "internal error" not in r.output, r
    for secret in spec.get("must_not_contain", []):
        assert secret not in r.output
    _compare(case / "plan.txt", _normalise_text(r.stdout, tmp_project))
    diag_file = case / "diagnostics.txt"
    if r.stderr or (diag_file.exists() and not UPDATE):
        _compare(diag_file, _normalise_text(r.stderr, tmp_project))
    elif UPDATE and diag_file.exists():
        diag_file.unlink()

    shown = tmp_project.run("show", "--json", PLANFILE)
    assert shown.exit_code == 0, shown
    for secret in spec.get("must_not_contain", []):
        assert secret not in shown.stdout
    doc = _normalise_json(json.loads(shown.stdout), tmp_project)
    _compare(case / "plan.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")

    # the pull-request comment (show --markdown), and the data it is made from against its schema
    md = tmp_project.run("show", "--markdown", PLANFILE)
    assert md.exit_code == 0, md
    for secret in spec.get("must_not_contain", []):
        assert secret not in md.stdout
    _compare(case / "plan.md", _normalise_text(md.stdout, tmp_project))
    data = tmp_project.run("show", "--markdown", "--json", PLANFILE)
    assert data.exit_code == 0, data
    _review_validator().validate(json.loads(data.stdout))


def _review_validator() -> Any:
    import jsonschema

    from mlform.schemas.generate import REVIEW_SCHEMA_PATH

    schema = json.loads(REVIEW_SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
