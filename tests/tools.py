"""Command-line tools the tests run for real, and where they come from.

Checkov pins networkx below 2.7 (mlform needs 3) and downgrades boto3 and
packaging, so it cannot share the test venv: it gets a venv of its own,
created once with ``python -m venv`` and pip, and cached under
``$XDG_CACHE_HOME/mlform-tests`` (``~/.cache``). ``MLFORM_TEST_CHECKOV`` names
a checkov executable to use instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHECKOV_REQUIREMENT = "checkov==3.3.30"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mlform-tests"


def checkov() -> Path:
    """The checkov executable (skips the test, with pip's reason, when it cannot be installed)."""
    given = os.environ.get("MLFORM_TEST_CHECKOV")
    if given:
        return Path(given)
    venv = cache_dir() / ("checkov-" + CHECKOV_REQUIREMENT.split("==")[1])
    exe, done = venv / "bin" / "checkov", venv / ".installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".lock", "w") as lock:  # pytest-xdist workers install it once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return exe
        shutil.rmtree(venv, ignore_errors=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        r = subprocess.run([base_python, "-m", "venv", str(venv)], capture_output=True, text=True)
        if r.returncode == 0:
            r = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                                CHECKOV_REQUIREMENT], capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip(f"could not install {CHECKOV_REQUIREMENT} into its own venv: {(r.stderr or r.stdout)[-800:]}")
        done.write_text(CHECKOV_REQUIREMENT + "\n")
    return exe


def checkov_env() -> dict[str, str]:
    """Checkov offline: no download of its guideline mappings or update check."""
    return {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
            "LOG_LEVEL": "ERROR"}
