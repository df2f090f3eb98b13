"""Every shipped example is in canonical format: `mlform fmt --check` passes on it.

A user who copies an example and runs `mlform fmt --check` in CI must not be
told to reformat what they were given.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.project import REPO_ROOT, Project

EXAMPLES = sorted({p.parent for p in (REPO_ROOT / "examples").rglob("*.mlf.hcl")}
                  | {p.parent for p in (REPO_ROOT / "examples").rglob("*.mlfvars.hcl")})


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 2, EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_example_is_formatted(example: Path) -> None:
    r = Project(example).run("fmt", "--check", "--diff")  # --check writes nothing
    assert r.exit_code == 0, f"run `mlform fmt` in {example.relative_to(REPO_ROOT)}:\n{r.output}"
    assert r.stdout.strip() == "", r
