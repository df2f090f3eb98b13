"""A provider from outside mlform works with no change to mlform's engine.

``tests/thirdparty/mlform-provider-acme`` is a provider in its own package, as
a third party would ship one: its own ``pyproject.toml`` and its entry point
in the ``mlform.providers`` group. Each test module installs it for real
(``pip install --no-deps --no-build-isolation --target DIR``) and runs the
``mlform`` executable with ``DIR`` on ``PYTHONPATH``, as a user who installed
it would. Its endpoints take a ``region`` and a ``tier`` of their own; its
cloud is a JSON file under ``.mlform/acme-cloud/`` and its data plane a small
V2 gateway (``python -m mlform_provider_acme.gateway``) that serves the ONNX
models with onnxruntime, which the tests start.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from tests.fixtures.project import REPO_ROOT, CliResult, Project, RenderedDiagnostic, parse_diagnostics

PACKAGE = REPO_ROOT / "tests" / "thirdparty" / "mlform-provider-acme"
QUICKSTART = REPO_ROOT / "examples" / "quickstart"
ROW = [3.0, 2.0, 0.0, 0.0, 0.0, 0.7359, 1.0, 0.0]  # the golden set's first record


@pytest.fixture(scope="module")
def acme_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the acme package is pip-installed into (from a copy, so the source tree gets no build/)."""
    root = tmp_path_factory.mktemp("acme")
    src = root / "src"
    shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = root / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--no-index", "--target", str(site), str(src)],
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return site


@pytest.fixture
def env(acme_site: Path) -> dict[str, str | None]:
    """The environment of an mlform with acme installed (the suite's testing-provider path kept)."""
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(acme_site), os.environ.get("PYTHONPATH")) if p)}


@pytest.fixture
def gateway(tmp_project: Project, env: dict[str, str | None]) -> Iterator[str]:
    """The Acme gateway over this project's cloud folder; its URL."""
    environ = {**os.environ, **{k: v for k, v in env.items() if v is not None}}
    proc = subprocess.Popen([sys.executable, "-m", "mlform_provider_acme.gateway",
                             str(tmp_project.path / ".mlform" / "acme-cloud")],
                            env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("acme gateway on "), line + proc.stdout.read()
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


CONFIG = '''variable "model_file" {
  type    = string
  default = "models/sentiment-v1.onnx"
}

provider "acme" {
  gateway = "%(gateway)s"
}

model "m" {
  source = var.model_file
}

eval_suite "golden" {
  target  = model.m
  dataset = "data/golden.jsonl"
  metric "accuracy" { min = 0.85 }
}

endpoint "e" {
  provider = provider.acme
  model    = model.m
  region   = "%(region)s"
  tier     = "%(tier)s"

  rollout {
    strategy     = "canary"
    steps        = [10, 50, 100]
    bake_seconds = 1
    gates        = [eval_suite.golden]
  }
}
'''


def _write(p: Project, gateway: str = "http://127.0.0.1:9", region: str = "eu-west", tier: str = "premium",
           **swap: str) -> str:
    text = CONFIG % {"gateway": gateway, "region": region, "tier": tier}
    for old, new in swap.items():
        text = text.replace(old, new)
    p.write("main.mlf.hcl", text)
    for name in ("sentiment-v1.onnx", "sentiment-v2.onnx"):
        p.copy_model(f"models/{name}", QUICKSTART / "models" / name)
    p.write("data/golden.jsonl", (QUICKSTART / "data" / "golden.jsonl").read_text())
    return text


def _at(text: str, needle: str) -> str:
    for n, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return f"main.mlf.hcl:{n}:{line.index(needle) + 1}"
    raise AssertionError(needle)


def _errors(r: CliResult) -> list[RenderedDiagnostic]:
    assert "Traceback" not in r.output, r
    return [d for d in parse_diagnostics(r.stderr) if d.severity == "Error"]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _cloud(p: Project) -> dict[str, Any]:
    f = p.path / ".mlform" / "acme-cloud" / "endpoints.json"
    return json.loads(f.read_text()) if f.exists() else {}  # type: ignore[no-any-return]


def _infer(url: str, version: str | None = None, **headers: str) -> httpx.Response:
    path = f"{url}/v2/models/e" + (f"/versions/{version}" if version else "") + "/infer"
    return httpx.post(path, json={"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32",
                                              "data": ROW}]}, headers=headers, timeout=10)


def test_mlform_version_lists_acme_with_its_package_version(tmp_project: Project, env: dict[str, str | None]) -> None:
    want = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]["version"]
    r = tmp_project.run_subprocess("version", env=env)
    assert r.exit_code == 0, r
    assert f"+ provider acme v{want}" in r.stdout.splitlines(), r


def test_providers_schema_json_describes_acme_s_own_attributes(tmp_project: Project,
                                                               env: dict[str, str | None]) -> None:
    r = tmp_project.run_subprocess("providers", "schema", "--json", env=env)
    assert r.exit_code == 0, r
    acme = json.loads(r.stdout)["provider_schemas"]["acme"]
    assert acme["provider"]["block"]["attributes"]["gateway"]["required"] is True
    attrs = acme["resource_schemas"]["endpoint"]["block"]["attributes"]
    region, tier = attrs["region"], attrs["tier"]
    assert (region["type"], region["required"], region["forces_replacement"]) == ("string", True, True)
    assert (tier["type"], tier["optional"], tier["forces_replacement"]) == ("string", True, False)
    assert "model" in attrs and "port" not in attrs  # the common endpoint schema, not local's


def test_validate_places_a_typo_and_acme_s_own_check_at_the_source(tmp_project: Project,
                                                                   env: dict[str, str | None]) -> None:
    text = _write(tmp_project, **{"  region   =": "  regoin   ="})
    r = tmp_project.run_subprocess("validate", env=env)
    assert r.exit_code == 1, r
    got = {e.summary: e for e in _errors(r)}
    assert set(got) == {"Unsupported argument", "Missing required argument"}, r
    assert got["Unsupported argument"].location == _at(text, "regoin")
    assert 'Did you mean "region"?' in _flat(got["Unsupported argument"].detail)
    assert got["Missing required argument"].location == _at(text, 'endpoint "e"')

    text = _write(tmp_project, tier="premum")
    r = tmp_project.run_subprocess("validate", env=env)
    assert r.exit_code == 1, r
    (e,) = _errors(r)
    assert (e.summary, e.location, e.address) == ("Unknown Acme tier", _at(text, '"premum"'), "endpoint.e"), r
    assert 'Did you mean "premium"?' in _flat(e.detail)

    _write(tmp_project, tier="spot")
    r = tmp_project.run_subprocess("validate", env=env)
    assert r.exit_code == 0 and _errors(r) == [], r


class _Traffic:
    """Requests to the endpoint (no version named) every 20 ms, from a thread, until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.statuses.append(_infer(self.url).status_code)

    def __enter__(self) -> "_Traffic":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def test_plan_apply_roll_out_and_destroy_through_acme(tmp_project: Project, env: dict[str, str | None],
                                                     gateway: str) -> None:
    p = tmp_project
    _write(p, gateway)
    plan = p.run_subprocess("plan", env=env)
    assert plan.exit_code == 0, plan
    assert "# endpoint.e will be created" in plan.stdout and "# estimate: acme.premium x1, $0.48/h" in plan.stdout

    r = p.run_subprocess("apply", "--auto-approve", env=env)
    assert r.exit_code == 0, r
    (obj,) = _cloud(p).values()
    (v1,) = obj["versions"]
    assert (obj["id"], obj["region"], obj["tier"], obj["weights"]) == ("eu-west/e", "eu-west", "premium", {v1: 100})
    answer = _infer(gateway)
    assert answer.status_code == 200 and answer.json()["model_version"] == v1, answer.text

    # A new model version rolls out through acme's driver: gate on the staged version, then the canary steps.
    with _Traffic(gateway) as traffic:
        r = p.run_subprocess("apply", "--auto-approve", "-var", "model_file=models/sentiment-v2.onnx", env=env)
    assert r.exit_code == 0, r
    rec = p.state()["history"][-1]["rollouts"][0]
    v2 = rec["version"]
    assert rec["outcome"] == "completed" and v2 != v1
    assert rec["steps"][0]["gate"] == "eval_suite.golden" and rec["steps"][0]["passed"] is True
    assert [s["percent"] for s in rec["steps"][1:]] == [10, 50, 100]
    assert rec["steps"][-1]["requests"] > 0  # observed on the gateway's figures
    assert traffic.statuses and set(traffic.statuses) == {200}  # no request failed while traffic moved
    (obj,) = _cloud(p).values()
    assert list(obj["versions"]) == [v2] and obj["weights"] == {v2: 100}
    (ep,) = [x for x in p.state()["resources"] if x["address"] == "endpoint.e"]
    assert ep["attributes"]["traffic"] == {v2: 100}
    assert _infer(gateway, v1).status_code == 404 and _infer(gateway).json()["model_version"] == v2

    # A tier is changed in place; a region is acme's force_new attribute: the endpoint is replaced.
    _write(p, gateway, tier="spot", **{"sentiment-v1.onnx": "sentiment-v2.onnx"})
    r = p.run_subprocess("plan", env=env)
    assert r.exit_code == 0 and "# endpoint.e will be updated in-place" in r.stdout, r
    _write(p, gateway, region="us-east", **{"sentiment-v1.onnx": "sentiment-v2.onnx"})
    r = p.run_subprocess("plan", env=env)
    assert r.exit_code == 0 and "# endpoint.e must be replaced" in r.stdout, r
    assert "# forces replacement" in next(line for line in r.stdout.splitlines() if "region" in line)

    r = p.run_subprocess("destroy", "--auto-approve", env=env)
    assert r.exit_code == 0, r
    assert _cloud(p) == {} and p.state()["resources"] == []


def test_refresh_sees_an_endpoint_deleted_from_the_acme_cloud(tmp_project: Project, env: dict[str, str | None],
                                                             gateway: str) -> None:
    _write(tmp_project, gateway)
    assert tmp_project.run_subprocess("apply", "--auto-approve", env=env).exit_code == 0
    (tmp_project.path / ".mlform" / "acme-cloud" / "endpoints.json").write_text("{}")
    r = tmp_project.run_subprocess("plan", env=env)
    assert r.exit_code == 0, r
    assert "# endpoint.e has been deleted" in r.stdout and "# endpoint.e will be created" in r.stdout, r


def test_the_acme_package_uses_only_mlform_s_public_engine_modules() -> None:
    """What makes it third-party: no provider module of mlform, no underscored name, no CLI."""
    used: set[str] = set()
    for f in (PACKAGE / "mlform_provider_acme").glob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                used |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names}
    mine = {u for u in used if u.startswith("mlform.")}
    assert mine and all(u.startswith("mlform.engine.") for u in mine), mine
    assert not [u for u in mine if any(s.startswith("_") for s in u.split("."))]
    assert not [u for u in mine if u.startswith(("mlform.engine.cli", "mlform.engine.commands"))]
