"""The testing provider is the test suite's: an installed mlform does not offer it.

tests/conftest.py registers it through a real entry point (a ``*.dist-info``
with ``entry_points.txt`` on ``sys.path`` and ``PYTHONPATH``), as a
third-party provider package would be; without that folder a user's
``mlform`` neither lists nor finds it.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import distribution
from pathlib import Path

from tests.conftest import TESTING_PROVIDER_PATH
from tests.fixtures.project import REPO_ROOT, Project


def _providers(stdout: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^\+ provider (\S+) v\S+$", stdout, re.M)}


def _without_the_suite_s_registration() -> str:
    parts = (os.environ.get("PYTHONPATH") or "").split(os.pathsep)
    return os.pathsep.join(p for p in parts if p and Path(p) != TESTING_PROVIDER_PATH)


def test_a_user_s_mlform_version_does_not_list_testing(tmp_project: Project) -> None:
    r = tmp_project.run_subprocess("version", env={"PYTHONPATH": _without_the_suite_s_registration() or None})
    assert r.exit_code == 0, r
    assert {"local", "builtin"} <= _providers(r.stdout) and "testing" not in _providers(r.stdout), r


def test_a_user_s_configuration_naming_testing_finds_no_such_provider(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", 'provider "testing" {}\n')
    r = tmp_project.run_subprocess("plan", env={"PYTHONPATH": _without_the_suite_s_registration() or None})
    assert r.exit_code == 1, r
    assert "testing" in r.stderr and "Traceback" not in r.stderr, r


def test_the_suite_s_entry_point_reaches_cli_subprocesses(tmp_project: Project) -> None:
    r = tmp_project.run_subprocess("version")
    assert r.exit_code == 0, r
    assert "testing" in _providers(r.stdout), r


def test_the_mlform_distribution_declares_no_testing_entry_point() -> None:
    installed = {ep.name for ep in distribution("mlform").entry_points if ep.group == "mlform.providers"}
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    assert installed == set(declared["mlform.providers"]) == {"builtin", "local", "docker", "sagemaker", "vertex", "ray"}
