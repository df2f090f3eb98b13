"""What running an example leaves behind is git-ignored, and none of it is committed.

Applying an example writes its local state (``mlform.state.json``), the
state's backup, and while it runs a journal, a lock file and atomic-write
temporaries, plus ``.mlform/`` (parse and profile caches, local server
records). A user trying the examples in a clone must not see these as changes
to commit.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mlform.engine.state.backends.local import LocalClient
from mlform.engine.state.persist import ERRORED_STATE_FILE
from tests.fixtures.project import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (REPO_ROOT / ".git").exists(),
                                reason="needs a git checkout")

EXAMPLES = sorted({p.parent for p in (REPO_ROOT / "examples").rglob("*.mlf.hcl")})


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=False)


def _left_by_a_run(example: Path) -> list[Path]:
    client = LocalClient(example / "mlform.state.json")
    return [client.path, client.backup_path, client.journal_path, client.lock_path,
            example / f".{client.path.name}.k2x9q1.tmp", example / ERRORED_STATE_FILE,
            example / ".mlform" / "cache" / "parse" / "0.ast",
            example / ".mlform" / "servers" / "sentiment" / "server.log"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_run_files_are_ignored(example: Path) -> None:
    paths = [str(p.relative_to(REPO_ROOT)) for p in _left_by_a_run(example)]
    r = _git("check-ignore", "--no-index", "--verbose", "--non-matching", *paths)
    not_ignored = [line.split("\t", 1)[1] for line in r.stdout.splitlines() if line.startswith("::")]
    assert not_ignored == [], f"add these to .gitignore: {not_ignored}"


def test_no_run_file_is_tracked() -> None:
    tracked = _git("ls-files", "examples").stdout.splitlines()
    assert tracked, "no example is tracked?"
    run_files = [f for f in tracked if "mlform.state.json" in f or "/.mlform/" in f]  # errored.* too
    assert run_files == [], f"git rm --cached {' '.join(run_files)}"


def test_example_sources_are_not_ignored() -> None:
    """The patterns are narrow: the files an example is made of stay visible to git."""
    paths = [str(p.relative_to(REPO_ROOT)) for e in EXAMPLES for p in e.iterdir()
             if p.is_file() and not p.name.startswith(("mlform.state.json", ".", ERRORED_STATE_FILE))]
    assert paths
    r = _git("check-ignore", "--no-index", *paths)
    assert r.stdout.strip() == "", r.stdout
