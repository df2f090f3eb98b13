"""A state backend as the manager and the commands use it, on a real local state file.

Where each file is (as messages name them), reading the document, its backup and the journal
on its own, the serial and lineage rules of a write, the journal written, read, closed and
removed, the lock's recorded path, and how a backend names itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import LocalBackend, LockInfo, ResourceState, State, StateManager
from mlform.engine.state.crypto import Encryptor
from mlform.engine.state.journal import JournalHeader, PutEntry


def test_each_file_is_named_as_the_user_sees_it(state_path: Path) -> None:
    b = LocalBackend(state_path)
    assert b.location == str(state_path)
    assert b.backup_location == str(state_path) + ".backup"
    assert b.journal_location == str(state_path) + ".journal"
    assert repr(b) == f"LocalBackend({state_path})"
    assert repr(LocalBackend(state_path, Encryptor(passphrase="pw"))) == \
        f"LocalBackend({state_path}, encrypted)"


def test_a_corrupt_journal_or_backup_names_its_file(state_path: Path, make_rs: Callable[..., ResourceState]) -> None:
    b = LocalBackend(state_path)
    b.write(State())
    b.write(State(lineage=b.read().lineage))  # type: ignore[union-attr]
    Path(b.backup_location).write_text("{not json")
    with pytest.raises(DiagnosticsError) as exc:
        b.read_backup()
    assert b.backup_location in str(exc.value.diagnostics.errors[0].detail) + exc.value.diagnostics.errors[0].summary
    b.journal_start(JournalHeader(lineage=b.read_document().lineage, base_serial=2, version=99))  # type: ignore
    with pytest.raises(DiagnosticsError) as exc:
        b.read()
    assert b.journal_location in str(exc.value.diagnostics.errors[0].detail) + exc.value.diagnostics.errors[0].summary


def test_document_and_backup_are_read_on_their_own(state_path: Path) -> None:
    b = LocalBackend(state_path)
    assert b.read_document() is None and b.read_backup() is None and b.read() is None
    first = b.write(State())
    assert first.serial == 1 and b.read_backup() is None and not Path(b.backup_location).exists()
    second = b.write(State(lineage=first.lineage, outputs={"x": {"value": 1, "sensitive": False}}))
    assert second.serial == 2
    doc, backup = b.read_document(), b.read_backup()
    assert doc is not None and (doc.serial, doc.outputs) == (2, second.outputs)
    assert backup is not None and (backup.serial, backup.outputs) == (1, {})


def test_a_write_goes_past_the_stored_serial_and_never_below_the_callers(state_path: Path) -> None:
    b = LocalBackend(state_path)
    s = b.write(State(serial=7))
    assert s.serial == 7
    assert b.write(State(lineage=s.lineage, serial=3)).serial == 8
    assert b.write(State(lineage=s.lineage, serial=20)).serial == 20
    assert b.read().serial == 20  # type: ignore[union-attr]


def test_a_state_of_another_lineage_is_refused_unless_forced(state_path: Path) -> None:
    b = LocalBackend(state_path)
    s = b.write(State())
    other = State()
    with pytest.raises(DiagnosticsError) as exc:
        b.write(other)
    (d,) = exc.value.diagnostics.errors
    assert d.summary == "State lineage mismatch"
    assert f"holds state of lineage {s.lineage}" in d.detail and f"has lineage {other.lineage}" in d.detail
    assert "state push --force" in d.detail
    assert b.read().lineage == s.lineage  # type: ignore[union-attr]
    forced = b.write(other, force=True)
    assert forced.serial == 2 and b.read().lineage == other.lineage  # type: ignore[union-attr]
    assert b.read_backup().lineage == s.lineage  # type: ignore[union-attr]


def test_the_journal_is_written_replayed_closed_and_removed(state_path: Path,
                                                           make_rs: Callable[..., ResourceState]) -> None:
    b = LocalBackend(state_path)
    base = b.write(State())
    assert b.journal_read() is None
    b.journal_start(JournalHeader(lineage=base.lineage, base_serial=base.serial))
    with b.deferred_sync():
        b.journal_append(b.encode(PutEntry(resource=make_rs("model.m", digest="sha256:1"))))
    j = b.journal_read()
    assert j is not None and j.header.base_serial == 1 and len(j.entries) == 1
    replayed = b.read()
    assert replayed is not None and [r.address for r in replayed.resources] == ["model.m"]
    assert b.read_document().resources == []  # type: ignore[union-attr]  # the document itself: untouched
    b.journal_close()
    assert b.journal_read() is not None  # closed, kept (a failed commit leaves it for the next run)
    b.journal_remove()
    assert b.journal_read() is None and not Path(b.journal_location).exists()
    assert b.read().resources == []  # type: ignore[union-attr]


def test_the_lock_records_the_state_s_path_and_its_id(state_path: Path) -> None:
    b = LocalBackend(state_path)
    info = LockInfo(operation="OperationTypeApply")
    lock_id = b.lock(info, 0)
    assert lock_id == info.id
    held = b.current_lock()
    assert held is not None and held.id == lock_id and held.path == str(state_path)
    b.unlock(lock_id)
    assert b.current_lock() is None
    lock_id = b.lock(LockInfo(operation="OperationTypeApply", path="elsewhere"), 0)
    assert b.current_lock().path == "elsewhere"  # type: ignore[union-attr]
    LocalBackend(state_path).force_unlock(lock_id)
    assert b.current_lock() is None


def test_a_manager_reads_what_a_crashed_run_journaled(state_path: Path,
                                                      make_rs: Callable[..., ResourceState]) -> None:
    m = StateManager(LocalBackend(state_path))
    m.begin("apply")
    m.record_put(make_rs("model.m", digest="sha256:1"))
    m.commit()
    m.begin("apply")
    m.record_put(make_rs("model.n", digest="sha256:2"))  # the run is killed here: no commit
    after = LocalBackend(state_path).read()
    assert after is not None and sorted(r.address for r in after.resources) == ["model.m", "model.n"]
