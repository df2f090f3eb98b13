"""Recording N operations costs O(N) bytes written, not O(N^2)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlform.engine.state import LocalBackend, ResourceState, StateManager, new_operation_id
from mlform.engine.state.journal import IntentEntry, PutEntry
from mlform.engine.state.model import Intent

MakeRS = Callable[..., ResourceState]
PROC_IO = Path("/proc/self/io")


def written_bytes() -> int:
    """Bytes this process passed to write(2) so far (Linux ``wchar``)."""
    for line in PROC_IO.read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def apply_n(path: Path, n: int, make_rs: MakeRS) -> int:
    """Bytes written to record n create operations and commit them."""
    mgr = StateManager(LocalBackend(path))
    mgr.load()
    before = written_bytes()
    mgr.begin()
    for i in range(n):
        op = new_operation_id()
        mgr.record_intent(f"model.m{i}", op, "create", kind="model", provider="local")
        mgr.record_put(make_rs(f"model.m{i}", digest="sha256:" + "ab" * 32, size_bytes=123456,
                               source=f"./models/m{i}.onnx"), done=op)
    mgr.commit()
    return written_bytes() - before


@pytest.mark.skipif(not PROC_IO.exists(), reason="needs Linux /proc/self/io")
def test_bytes_written_grow_linearly_with_operations(fast_dir: Path, make_rs: MakeRS) -> None:
    sample = make_rs("model.m999", digest="sha256:" + "ab" * 32, size_bytes=123456,
                     source="./models/m999.onnx")
    intent = Intent(operation_id=new_operation_id(), address="model.m999", action="create",
                    kind="model", provider="local")
    record_size = len(PutEntry(resource=sample, done=intent.operation_id).model_dump_json()) + \
        len(IntentEntry(intent=intent).model_dump_json())

    small = apply_n(fast_dir / "a" / "s.json", 500, make_rs)
    large = apply_n(fast_dir / "b" / "s.json", 1000, make_rs)

    # Journal (one intent + one put line each) + one final document, which is
    # itself about a record per resource: a small constant times N records.
    assert large < 4 * 1000 * record_size, (large, record_size)
    # Doubling N doubles the bytes; rewriting state per operation would
    # quadruple them.
    assert 1.8 < large / small < 2.3, (small, large)
