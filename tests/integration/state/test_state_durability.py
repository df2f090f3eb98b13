"""Durability as a power cut sees it, not only as kill -9 sees it (issue 22).

A process killed with SIGKILL leaves its writes in the page cache, so a kill -9 test passes
even when nothing is ever synced: the next process reads what the kernel still holds. Here
``os.fsync``/``os.fdatasync`` are spied on, and what was synced is all the "disk" keeps:

* every journal record is synced, at its full length, before the call that wrote it returns;
* a real child writer killed with SIGKILL, its journal cut back to what it had synced (what a
  power cut leaves), still replays every record it had acknowledged;
* the state document and its backup are each synced, and renamed into place, backup first.

And a state write that fails (a full disk, a crash between the two renames) leaves the
previous version on disk: the backup is written before the state, never after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.state import LocalBackend, ResourceState, State, StateManager, new_operation_id
from mlform.engine.state.backends import local as local_backend

MakeRS = Callable[..., ResourceState]


@pytest.fixture
def make_rs() -> MakeRS:
    def make(address: str, **attributes: Any) -> ResourceState:
        kind, name = address.split(".", 1)
        return ResourceState(address=address, kind=kind, name=name, provider="local", attributes=attributes)
    return make


class SyncSpy:
    """Records each fsync/fdatasync as (path, size of the file when synced)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, int]] = []
        real_fsync, real_fdatasync = os.fsync, os.fdatasync

        def spy(real: Callable[[int], None]) -> Callable[[int], None]:
            def call(fd: int) -> None:
                real(fd)
                path = os.readlink(f"/proc/self/fd/{fd}")
                self.calls.append((path, os.fstat(fd).st_size))
            return call

        monkeypatch.setattr(os, "fsync", spy(real_fsync))
        monkeypatch.setattr(os, "fdatasync", spy(real_fdatasync))

    def synced_size(self, path: Path) -> int:
        sizes = [size for p, size in self.calls if p == str(path)]
        return max(sizes, default=-1)


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")


def test_each_journal_record_is_synced_before_its_call_returns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_rs: MakeRS) -> None:
    state = tmp_path / "mlform.state.json"
    journal = tmp_path / "mlform.state.json.journal"
    spy = SyncSpy(monkeypatch)
    mgr = StateManager(LocalBackend(state))
    mgr.load()
    mgr.begin()
    for i in range(3):
        op = new_operation_id()
        mgr.record_intent(f"model.m{i}", op, "create", kind="model", provider="local")
        assert spy.synced_size(journal) == journal.stat().st_size, "an intent returned before it was durable"
        mgr.record_put(make_rs(f"model.m{i}", n=i), done=op)
        assert spy.synced_size(journal) == journal.stat().st_size, "a record returned before it was durable"
    mgr.record_remove("model.m0")
    assert spy.synced_size(journal) == journal.stat().st_size
    # the new journal's directory entry is durable too (atomic write: file, rename, directory)
    assert any(p == str(tmp_path) for p, _ in spy.calls), spy.calls


def test_a_commit_syncs_the_backup_then_the_state_then_their_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_rs: MakeRS) -> None:
    state = tmp_path / "mlform.state.json"
    backend = LocalBackend(state)
    backend.write(State())
    previous = state.read_bytes()
    spy = SyncSpy(monkeypatch)
    renames: list[str] = []
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        renames.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    s = backend.read()
    assert s is not None
    s.put(make_rs("model.m", n=1))
    backend.write(s)
    assert renames == ["mlform.state.json.backup", "mlform.state.json"]
    # each temporary file was synced at the size of what it became, before its rename
    files = [(Path(p).name, size) for p, size in spy.calls if p != str(tmp_path)]
    assert [size for _, size in files] == [len(previous), state.stat().st_size], files
    assert all(name.endswith(".tmp") for name, _ in files), files
    dirs = [i for i, (p, _) in enumerate(spy.calls) if p == str(tmp_path)]
    assert len(dirs) == 2 and dirs[-1] == len(spy.calls) - 1, spy.calls  # each rename made durable
    assert (tmp_path / "mlform.state.json.backup").read_bytes() == previous


WRITER = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    from mlform.engine.state import LocalBackend, ResourceState, StateManager, new_operation_id

    state, synced_log = Path(sys.argv[1]), sys.argv[2]
    journal = str(state) + ".journal"
    real_fsync, real_fdatasync = os.fsync, os.fdatasync

    def spy(real):
        def call(fd):
            real(fd)
            if os.readlink(f"/proc/self/fd/{fd}") == journal:  # what the disk now holds for sure
                with open(synced_log, "a") as f:
                    f.write(f"{os.fstat(fd).st_size}\\n")
        return call

    os.fsync, os.fdatasync = spy(real_fsync), spy(real_fdatasync)
    mgr = StateManager(LocalBackend(state))
    mgr.load()
    mgr.begin()
    n = 0
    while True:
        op = new_operation_id()
        mgr.record_intent(f"model.r{n}", op, "create", kind="model", provider="local")
        mgr.record_put(ResourceState(address=f"model.r{n}", kind="model", name=f"r{n}", provider="local",
                                     attributes={"n": n}), done=op)
        print(f"acked {n}", flush=True)  # the call returned: the user was told it is recorded
        n += 1
''')


def test_a_killed_writer_keeps_every_acknowledged_record_on_what_it_synced(tmp_path: Path) -> None:
    state = tmp_path / "mlform.state.json"
    journal = tmp_path / "mlform.state.json.journal"
    synced_log = tmp_path / "synced"
    LocalBackend(state).write(State())
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(state), str(synced_log)],
                             stdout=subprocess.PIPE, text=True)
    acked: list[int] = []
    assert child.stdout is not None
    deadline = time.monotonic() + 60
    while len(acked) < 20 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if not line:
            break
        acked.append(int(line.split()[1]))
    os.kill(child.pid, signal.SIGKILL)  # a real crash, mid-record
    child.wait()
    child.stdout.close()
    assert len(acked) == 20, f"the writer acknowledged {len(acked)} records"

    # A power cut keeps only what was synced: cut the journal back to the last synced size
    # (its header was written and synced by an atomic write before the first record).
    data = journal.read_bytes()
    header = data.index(b"\n") + 1
    synced = max([int(x) for x in synced_log.read_text().split()] + [header])
    journal.write_bytes(data[:synced])

    after = StateManager(LocalBackend(state)).load()
    recorded = {r.address: r.attributes["n"] for r in after.resources}
    missing = [n for n in acked if recorded.get(f"model.r{n}") != n]
    assert not missing, f"acknowledged but lost after the power cut: {missing}"


# -- a failed state write leaves the previous version ---------------------------------------


def _three_versions(state: Path, make_rs: MakeRS) -> tuple[LocalBackend, State, bytes]:
    """A backend at serial 2 (backup: serial 1), and the next version to write."""
    backend = LocalBackend(state)
    backend.write(State())
    s = backend.read()
    assert s is not None
    s.put(make_rs("model.m", n=2))
    backend.write(s)
    current = backend.read()
    assert current is not None and current.serial == 2
    nxt = current.model_copy(deep=True)
    nxt.put(make_rs("model.m", n=3))
    return backend, nxt, state.read_bytes()


def test_a_failed_state_write_leaves_the_state_and_a_backup_of_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_rs: MakeRS) -> None:
    state = tmp_path / "mlform.state.json"
    backend, nxt, current = _three_versions(state, make_rs)
    real = local_backend.atomic_write

    def full_disk(path: Path, data: bytes, mode: int = 0o600) -> None:
        if path == state:
            raise OSError(28, "No space left on device")
        real(path, data, mode)

    monkeypatch.setattr(local_backend, "atomic_write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        backend.write(nxt)
    monkeypatch.undo()
    assert state.read_bytes() == current  # serial 2, untouched
    # and the backup is that same version: restoring it cannot lose serial 2's changes
    assert (tmp_path / "mlform.state.json.backup").read_bytes() == current
    assert (backend.read() or State()).serial == 2


def test_a_crash_between_the_two_renames_never_loses_the_previous_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_rs: MakeRS) -> None:
    state = tmp_path / "mlform.state.json"
    backend, nxt, current = _three_versions(state, make_rs)
    real = local_backend.atomic_write
    writes: list[Path] = []

    def crash_on_second(path: Path, data: bytes, mode: int = 0o600) -> None:
        writes.append(path)
        if len(writes) == 2:
            raise OSError(5, "Input/output error")  # the process dies here
        real(path, data, mode)

    monkeypatch.setattr(local_backend, "atomic_write", crash_on_second)
    with pytest.raises(OSError):
        backend.write(nxt)
    monkeypatch.undo()
    on_disk = {state.read_bytes(), (tmp_path / "mlform.state.json.backup").read_bytes()}
    assert current in on_disk, "serial 2 is neither the state nor its backup"
