"""schemas/plan.schema.json: up to date, valid, and describing every golden plan JSON."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlform.schemas.generate import SCHEMA_PATH, main, render

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
PLANS = sorted(GOLDEN.glob("*/plan.json"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_committed_schema_is_generated_from_the_models() -> None:
    assert SCHEMA_PATH.read_text() == render(), "run: python -m mlform.schemas.generate"
    assert main(["--check"]) == 0


def test_check_reports_a_stale_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    stale = tmp_path / "plan.schema.json"
    stale.write_text("{}\n")
    monkeypatch.setattr("mlform.schemas.generate.SCHEMA_PATH", stale)
    assert main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err


def test_there_are_golden_plans_to_check() -> None:
    assert len(PLANS) >= 12


@pytest.mark.parametrize("path", PLANS, ids=[p.parent.name for p in PLANS])
def test_golden_plan_json_matches_schema(path: Path, validator: jsonschema.Draft202012Validator) -> None:
    doc = json.loads(path.read_text())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def _some_plan() -> dict[str, Any]:
    return json.loads((GOLDEN / "01-create" / "plan.json").read_text())  # type: ignore[no-any-return]


def test_schema_rejects_a_plan_without_resource_changes(validator: jsonschema.Draft202012Validator) -> None:
    doc = _some_plan()
    del doc["resource_changes"]
    with pytest.raises(jsonschema.ValidationError, match="'resource_changes' is a required property"):
        validator.validate(doc)


def test_schema_rejects_an_unknown_action(validator: jsonschema.Draft202012Validator) -> None:
    doc = copy.deepcopy(_some_plan())
    doc["resource_changes"][0]["change"]["actions"] = ["recreate"]
    with pytest.raises(jsonschema.ValidationError, match="'recreate' is not one of"):
        validator.validate(doc)


def test_schema_rejects_keys_it_does_not_describe(validator: jsonschema.Draft202012Validator) -> None:
    doc = _some_plan()
    doc["policy_results"] = [{"policy": "p", "enforcement": "advisory", "address": None, "passed": True,
                              "message": "", "overridden": False, "severity": "low"}]
    with pytest.raises(jsonschema.ValidationError, match="Additional properties are not allowed"):
        validator.validate(doc)
