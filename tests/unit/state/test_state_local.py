"""Local backend: atomic writes, backups, serial and lineage."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import LocalBackend, ResourceState, State


def test_first_write_creates_state_with_serial_1_and_no_backup(state_path: Path) -> None:
    b = LocalBackend(state_path)
    assert b.read() is None
    written = b.write(State())
    assert written.serial == 1
    doc = json.loads(state_path.read_text())
    assert doc["serial"] == 1 and doc["format_version"] == "1.0"
    assert "pending_operations" not in doc  # only written when there are some
    assert not b.backup_path.exists()


def test_every_write_increments_serial_keeps_lineage_and_backs_up_previous(
        state_path: Path, make_rs: Callable[..., ResourceState]) -> None:
    b = LocalBackend(state_path)
    s1 = b.write(State())
    s = b.read()
    assert s is not None
    s.put(make_rs("model.m", digest="sha256:aa"))
    s2 = b.write(s)
    assert b.backup_path.read_bytes() != state_path.read_bytes()
    at_serial_2 = state_path.read_bytes()
    s3 = b.write(s2)
    assert [s1.serial, s2.serial, s3.serial] == [1, 2, 3]
    assert s1.lineage == s2.lineage == s3.lineage
    # the backup is the previous file, byte for byte, and as private as the state
    assert b.backup_path.read_bytes() == at_serial_2
    assert (b.backup_path.stat().st_mode & 0o777) == 0o600
    backup = b.read_backup()
    assert backup is not None and backup.serial == 2
    assert backup.get("model.m") == s.get("model.m")
    assert (b.read() or State()).serial == 3


def test_write_does_not_modify_the_callers_state(state_path: Path) -> None:
    b = LocalBackend(state_path)
    s = State()
    b.write(s)
    assert s.serial == 0


def test_state_file_is_private_to_the_user(state_path: Path) -> None:
    b = LocalBackend(state_path)
    b.write(State())
    b.write(State(lineage=(b.read() or State()).lineage))
    assert state_path.stat().st_mode & 0o077 == 0
    assert b.backup_path.stat().st_mode & 0o077 == 0


def test_crash_during_write_leaves_the_old_state_and_no_temp_file(
        state_path: Path, monkeypatch: pytest.MonkeyPatch, make_rs: Callable[..., ResourceState]) -> None:
    b = LocalBackend(state_path)
    b.write(State())
    before = state_path.read_bytes()
    s = b.read()
    assert s is not None
    s.put(make_rs("model.m"))

    def boom(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        b.write(s)
    monkeypatch.undo()
    assert state_path.read_bytes() == before
    assert sorted(p.name for p in state_path.parent.iterdir()) == ["mlform.state.json"]


def test_writing_a_state_of_another_lineage_is_refused_unless_forced(state_path: Path) -> None:
    b = LocalBackend(state_path)
    first = b.write(State())
    other = State()
    with pytest.raises(DiagnosticsError, match="State lineage mismatch") as exc:
        b.write(other)
    assert first.lineage in str(exc.value.diagnostics.errors[0].detail)
    assert (b.read() or State()).lineage == first.lineage
    forced = b.write(other, force=True)
    assert forced.lineage == other.lineage and forced.serial == 2


def test_an_empty_state_file_counts_as_no_state(state_path: Path) -> None:
    state_path.touch()
    assert LocalBackend(state_path).read() is None


def test_a_corrupt_state_file_is_reported_and_never_overwritten(state_path: Path) -> None:
    state_path.write_text('{"serial": 3, "lineage": ')
    b = LocalBackend(state_path)
    with pytest.raises(DiagnosticsError, match="Failed to read state") as exc:
        b.read()
    assert "backup" in exc.value.diagnostics.errors[0].detail
    with pytest.raises(DiagnosticsError, match="Failed to read state"):
        b.write(State())
    assert state_path.read_text() == '{"serial": 3, "lineage": '


def test_a_state_from_a_newer_format_is_refused(state_path: Path) -> None:
    state_path.write_text(json.dumps({"format_version": "2.0", "serial": 1, "lineage": "x"}))
    with pytest.raises(DiagnosticsError, match="Unsupported state format"):
        LocalBackend(state_path).read()


def test_state_file_stays_strict_json_even_with_nan(
        state_path: Path, make_rs: Callable[..., ResourceState]) -> None:
    s = State()
    s.put(make_rs("model.m", score=float("nan"), limit=float("inf")))
    LocalBackend(state_path).write(s)

    def strict(name: str) -> None:
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads(state_path.read_text(), parse_constant=strict)
    assert doc["resources"][0]["attributes"] == {"score": None, "limit": None}


def test_state_directory_is_created(tmp_path: Path) -> None:
    b = LocalBackend(tmp_path / "envs" / "prod" / "mlform.state.json")
    assert b.write(State()).serial == 1
