"""Plan JSON as Terraform's tooling reads it: planned_values, configuration expressions,
action_reason, timestamp, no invented prior_state; and Checkov, run for real on it."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.project import REPO_ROOT, Project
from tests.tools import checkov, checkov_env

GOLDEN = REPO_ROOT / "tests" / "golden"

PROJECT = """
provider "testing" {}

variable "env" {
  type    = string
  default = "staging"
}

model "owned" {
  source   = "./models/model.onnx"
  metadata = { owner = "nlp", env = var.env }
}

model "orphan" {
  source = "./models/model.onnx"
}

endpoint "api" {
  provider = provider.testing
  model    = model.owned
  replicas = 2
}

output "url" {
  value = endpoint.api.url
}
"""


def _plan_json(proj: Project, *args: str) -> dict[str, Any]:
    r = proj.run("plan", "--out", "p.bin", *args)
    assert r.exit_code in (0, 2), r
    s = proj.run("show", "--json", "p.bin")
    assert s.exit_code == 0, s
    doc: dict[str, Any] = json.loads(s.stdout)
    return doc


@pytest.fixture
def project(tmp_project: Project) -> Project:
    tmp_project.write("main.mlf.hcl", PROJECT)
    tmp_project.copy_model()
    return tmp_project


def test_planned_values_hold_every_resource_that_will_exist(project: Project) -> None:
    doc = _plan_json(project)
    planned = {r["address"]: r for r in doc["planned_values"]["root_module"]["resources"]}
    changes = {rc["address"]: rc for rc in doc["resource_changes"]}
    assert set(planned) == set(changes) == {"model.owned", "model.orphan", "endpoint.api"}
    api = planned["endpoint.api"]
    assert (api["mode"], api["type"], api["name"], api["provider_name"]) == (
        "managed", "endpoint", "api", "provider.testing")
    assert api["values"]["replicas"] == 2
    assert "url" not in api["values"]  # known only after apply: left out, as Terraform does
    assert api["sensitive_values"] == {}
    assert planned["model.owned"]["values"]["metadata"] == {"owner": "nlp", "env": "staging"}
    assert doc["planned_values"]["outputs"] == {"url": {"sensitive": False}}
    assert doc["terraform_version"].startswith("1.5.0+mlform.")
    datetime.strptime(doc["timestamp"], "%Y-%m-%dT%H:%M:%SZ")


def test_configuration_expressions_tell_constants_from_references(project: Project) -> None:
    doc = _plan_json(project)
    res = {r["address"]: r for r in doc["configuration"]["root_module"]["resources"]}
    owned = res["model.owned"]["expressions"]
    assert owned["source"] == {"constant_value": "./models/model.onnx"}
    assert owned["metadata"] == {"references": ["var.env"]}
    api = res["endpoint.api"]["expressions"]
    assert api["model"] == {"references": ["model.owned"]}
    assert api["replicas"] == {"constant_value": 2}
    assert "provider" not in api  # a meta-argument, as in Terraform
    assert doc["configuration"]["root_module"]["outputs"]["url"]["expression"] == {
        "references": ["endpoint.api.url", "endpoint.api"]}
    assert {"resource": "endpoint.api", "attribute": ["url"]} in doc["relevant_attributes"]


def test_a_fresh_project_has_no_prior_state_and_an_applied_one_has_its_own(project: Project) -> None:
    first = _plan_json(project)
    assert "prior_state" not in first  # no state: nothing invented (it was a new lineage each run)
    assert project.run("apply", "--auto-approve").exit_code == 0
    project.write("main.mlf.hcl", PROJECT.replace("replicas = 2", "replicas = 3"))
    second = _plan_json(project)
    state = project.state()
    assert second["prior_state"]["lineage"] == state["lineage"]
    assert second["prior_state"]["serial"] == state["serial"]
    prior = {r["address"] for r in second["prior_state"]["values"]["root_module"]["resources"]}
    assert prior == {"model.owned", "model.orphan", "endpoint.api"}
    # the endpoint's url is known now, so planned_values carries it
    api = next(r for r in second["planned_values"]["root_module"]["resources"] if r["address"] == "endpoint.api")
    assert api["values"]["url"].startswith("http")


def test_a_replacement_by_request_carries_its_action_reason(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    doc = _plan_json(project, "--replace", "endpoint.api")
    rc = next(rc for rc in doc["resource_changes"] if rc["address"] == "endpoint.api")
    assert rc["change"]["actions"] == ["delete", "create"]
    assert rc["action_reason"] == "replace_by_request"


def test_a_destroy_plan_has_no_planned_resources(project: Project) -> None:
    assert project.run("apply", "--auto-approve").exit_code == 0
    doc = _plan_json(project, "--destroy")
    assert doc["planned_values"]["root_module"]["resources"] == []
    assert {tuple(rc["change"]["actions"]) for rc in doc["resource_changes"]} == {("delete",)}


# --- Checkov ---------------------------------------------------------------------------

CENSUS = '''
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class Census(BaseResourceCheck):
    """Passes on every mlform resource: the report then lists each one Checkov loaded."""

    def __init__(self):
        super().__init__(name="mlform resource loaded", id="CKV_MLF_0", categories=[CheckCategories.GENERAL_SECURITY],
                         supported_resources=["model", "prompt", "eval_suite", "endpoint"])

    def scan_resource_conf(self, conf):
        return CheckResult.PASSED


check = Census()
'''

MODEL_OWNER = '''
from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.terraform.checks.resource.base_resource_check import BaseResourceCheck


class ModelHasOwner(BaseResourceCheck):
    def __init__(self):
        super().__init__(name="Models name an owner in metadata", id="CKV_MLF_1",
                         categories=[CheckCategories.GENERAL_SECURITY], supported_resources=["model"])

    def scan_resource_conf(self, conf):
        meta = conf.get("metadata") or [{}]
        meta = meta[0] if isinstance(meta, list) and meta else meta
        return CheckResult.PASSED if isinstance(meta, dict) and meta.get("owner") else CheckResult.FAILED


check = ModelHasOwner()
'''

ENDPOINT_REPLICAS = """
metadata:
  id: "CKV2_MLF_2"
  name: "Endpoints run at least two replicas"
  category: "GENERAL_SECURITY"
definition:
  cond_type: "attribute"
  resource_types: ["endpoint"]
  attribute: "replicas"
  operator: "greater_than_or_equal"
  value: 2
"""


def _checkov(target: Path, checks: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    checks_dir = tmp_path / "checks"
    checks_dir.mkdir()
    (checks_dir / "__init__.py").write_text("")
    for name, text in checks.items():
        (checks_dir / name).write_text(text)
    flag = "-d" if target.is_dir() else "-f"
    r = subprocess.run([str(checkov()), flag, str(target), "--framework", "terraform_plan", "-o", "json",
                        "--skip-download", "--external-checks-dir", str(checks_dir)],
                       capture_output=True, text=True, env=checkov_env(), timeout=600)
    assert r.returncode in (0, 1), r.stderr[-2000:]
    doc = json.loads(r.stdout)
    reports: list[dict[str, Any]] = doc if isinstance(doc, list) else [doc]
    (report,) = [x for x in reports if x.get("check_type") == "terraform_plan"]
    return report


def test_checkov_loads_every_resource_of_every_golden_plan(tmp_path: Path, project: Project) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    expected: dict[str, set[str]] = {}
    cases = sorted(p for p in GOLDEN.iterdir() if (p / "plan.json").is_file())
    for case in cases:
        shutil.copy(case / "plan.json", plans / f"{case.name}.json")
    (plans / "project.json").write_text(json.dumps(_plan_json(project)))
    for f in plans.iterdir():
        doc = json.loads(f.read_text())
        expected[f.name] = {r["address"] for r in doc["planned_values"]["root_module"]["resources"]}
    assert sum(map(len, expected.values())) > 40

    report = _checkov(plans, {"census.py": CENSUS}, tmp_path)

    loaded: dict[str, set[str]] = {}
    for c in report["results"]["passed_checks"]:
        assert c["check_id"] == "CKV_MLF_0"
        loaded.setdefault(Path(c["file_path"]).name, set()).add(c["resource"])
    assert {k: v for k, v in loaded.items()} == {k: v for k, v in expected.items() if v}
    assert report["summary"]["resource_count"] == sum(map(len, expected.values()))
    assert report["summary"]["parsing_errors"] == 0


def test_a_custom_checkov_check_fails_where_it_should(project: Project, tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(_plan_json(project)))

    report = _checkov(plan, {"model_owner.py": MODEL_OWNER, "replicas.yaml": ENDPOINT_REPLICAS}, tmp_path)

    results = {(c["check_id"], c["resource"]): c["check_result"]["result"]
               for k in ("passed_checks", "failed_checks") for c in report["results"][k]}
    assert results == {("CKV_MLF_1", "model.owned"): "PASSED", ("CKV_MLF_1", "model.orphan"): "FAILED",
                       ("CKV2_MLF_2", "endpoint.api"): "PASSED"}

    project.write("main.mlf.hcl", PROJECT.replace("replicas = 2", "replicas = 1"))
    plan.write_text(json.dumps(_plan_json(project)))
    (tmp_path / "checks").rename(tmp_path / "checks-1")
    report = _checkov(plan, {"replicas.yaml": ENDPOINT_REPLICAS}, tmp_path)
    assert [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]] == [
        ("CKV2_MLF_2", "endpoint.api")]
