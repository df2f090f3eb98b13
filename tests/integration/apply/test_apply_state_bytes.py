"""A real apply of N resources writes O(N) bytes of state, not O(N^2).

The local backend's client is wrapped (not replaced) to count what reaches
the state files: the document and its backup, the journal header and each
journal record. The testing provider's own object store is not state and is
not counted.
"""

from __future__ import annotations

from typing import Any

import pytest

from mlform.engine.state.backends.local import LocalClient
from tests.fixtures.project import Project

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = %d
  provider = provider.testing
  model    = model.m
  replicas = 1
}
'''


class Counter:
    def __init__(self) -> None:
        self.bytes = 0
        self.documents = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Counter:
    c = Counter()
    put, start, append = LocalClient.put_state, LocalClient.journal_start, LocalClient.journal_append

    def put_state(self: LocalClient, data: bytes, backup: bytes | None) -> Any:
        c.bytes += len(data) + len(backup or b"")
        c.documents += 1
        return put(self, data, backup)

    def journal_start(self: LocalClient, header: bytes) -> Any:
        c.bytes += len(header)
        return start(self, header)

    def journal_append(self: LocalClient, line: bytes) -> Any:
        c.bytes += len(line)
        return append(self, line)

    monkeypatch.setattr(LocalClient, "put_state", put_state)
    monkeypatch.setattr(LocalClient, "journal_start", journal_start)
    monkeypatch.setattr(LocalClient, "journal_append", journal_append)
    return c


def _apply(project: Project, counted: Counter, n: int) -> tuple[int, int]:
    project.write("main.mlf.hcl", CONFIG % n)
    project.write("m.onnx", "m")
    counted.bytes = counted.documents = 0
    r = project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert f"Resources: {n + 1} added" in r.stdout
    assert len(project.state()["resources"]) == n + 1
    return counted.bytes, counted.documents


def test_state_bytes_written_by_an_apply_grow_linearly(tmp_path: Any, counted: Counter) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    small, small_docs = _apply(Project(tmp_path / "a"), counted, 500)
    large, large_docs = _apply(Project(tmp_path / "b"), counted, 1000)
    # The whole document is written a constant number of times, not per resource...
    assert small_docs == large_docs <= 2, (small_docs, large_docs)
    # ...so doubling N doubles the bytes; a rewrite per operation would quadruple them.
    assert 1.7 < large / small < 2.4, (small, large)
