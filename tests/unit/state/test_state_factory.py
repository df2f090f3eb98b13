"""Backends from the `backend` block, and migrating state between backends."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import (
    Encryptor,
    LocalBackend,
    ResourceState,
    State,
    StateManager,
    backend_from_config,
    migrate_state,
)

MakeRS = Callable[..., ResourceState]


def test_local_backend_defaults_to_mlform_state_json_in_the_project(tmp_path: Path) -> None:
    b = backend_from_config("local", {}, tmp_path, None)
    assert isinstance(b, LocalBackend) and b.path == tmp_path / "mlform.state.json"


def test_local_relative_path_is_relative_to_the_project(tmp_path: Path, enc: Encryptor) -> None:
    b = backend_from_config("local", {"path": "state/prod.json"}, tmp_path, enc)
    assert isinstance(b, LocalBackend) and b.path == tmp_path / "state" / "prod.json"
    assert b.encryption is enc
    absolute = backend_from_config("local", {"path": "/srv/s.json"}, tmp_path, None)
    assert isinstance(absolute, LocalBackend) and absolute.path == Path("/srv/s.json")


def test_unknown_backend_type_suggests_the_closest(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticsError, match="Unsupported backend type") as exc:
        backend_from_config("locl", {}, tmp_path, None)
    assert 'Did you mean "local"?' in exc.value.diagnostics.errors[0].detail


def test_every_problem_in_the_block_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticsError, match="Unsupported argument") as exc:
        backend_from_config("s3", {"buckett": "b", "region": 3, "lock_table": "t"}, tmp_path, None)
    found = [(d.summary, d.attribute_path) for d in exc.value.diagnostics.errors]
    assert found == [
        ("Unsupported argument", ("buckett",)),
        ("Incorrect attribute value type", ("region",)),
        ("Missing required argument", ("bucket",)),
        ("Missing required argument", ("key",)),
    ]
    assert 'Did you mean "bucket"?' in exc.value.diagnostics.errors[0].detail


def test_s3_region_may_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(DiagnosticsError, match="Missing required argument") as exc:
        backend_from_config("s3", {"bucket": "b", "key": "k"}, tmp_path, None)
    assert "AWS_REGION" in exc.value.diagnostics.errors[0].detail
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    b = backend_from_config("s3", {"bucket": "b", "key": "k"}, tmp_path, None)
    assert b.location == "s3://b/k"


def test_gcs_needs_a_bucket(tmp_path: Path) -> None:
    with pytest.raises(DiagnosticsError, match="Missing required argument") as exc:
        backend_from_config("gcs", {"prefix": "envs/prod"}, tmp_path, None)
    assert exc.value.diagnostics.errors[0].attribute_path == ("bucket",)


def _seeded(path: Path, make_rs: MakeRS, enc: Encryptor | None = None) -> State:
    mgr = StateManager(LocalBackend(path, enc))
    mgr.load()
    with mgr.session():
        mgr.record_put(make_rs("model.a", digest="sha256:1"))
    return mgr.load()


def test_migration_copies_state_keeping_lineage(tmp_path: Path, make_rs: MakeRS) -> None:
    old = _seeded(tmp_path / "old.json", make_rs)
    src, dst = LocalBackend(tmp_path / "old.json"), LocalBackend(tmp_path / "new" / "s.json")
    moved = migrate_state(src, dst)
    assert moved is not None and moved.lineage == old.lineage and moved.serial >= old.serial
    assert dst.read() == moved
    assert src.read() == old  # the source is left as it was
    assert src.current_lock() is None and dst.current_lock() is None
    # Running init again copies nothing.
    assert migrate_state(src, dst) == moved


def test_migration_of_nothing_is_nothing(tmp_path: Path) -> None:
    assert migrate_state(LocalBackend(tmp_path / "a.json"), LocalBackend(tmp_path / "b.json")) is None
    assert not (tmp_path / "b.json").exists()


def test_migration_includes_a_crashed_runs_journal(tmp_path: Path, make_rs: MakeRS) -> None:
    _seeded(tmp_path / "old.json", make_rs)
    mgr = StateManager(LocalBackend(tmp_path / "old.json"))
    mgr.load()
    mgr.begin()
    mgr.record_put(make_rs("model.b"))  # crash: only in the journal
    dst = LocalBackend(tmp_path / "new.json")
    moved = migrate_state(LocalBackend(tmp_path / "old.json"), dst)
    assert moved is not None and [r.address for r in moved.resources] == ["model.a", "model.b"]


def test_migration_refuses_to_replace_a_different_state(tmp_path: Path, make_rs: MakeRS) -> None:
    _seeded(tmp_path / "old.json", make_rs)
    other = _seeded(tmp_path / "other.json", make_rs)
    src, dst = LocalBackend(tmp_path / "old.json"), LocalBackend(tmp_path / "other.json")
    with pytest.raises(DiagnosticsError, match="already holds a different state") as exc:
        migrate_state(src, dst)
    assert other.lineage in exc.value.diagnostics.errors[0].detail
    assert dst.read() == other
    assert src.current_lock() is None and dst.current_lock() is None
    forced = migrate_state(src, dst, force=True)
    assert forced is not None and forced.lineage == (src.read() or State()).lineage


def test_migration_in_place_turns_encryption_on(tmp_path: Path, make_rs: MakeRS, enc: Encryptor) -> None:
    path = tmp_path / "s.json"
    _seeded(path, make_rs)
    moved = migrate_state(LocalBackend(path), LocalBackend(path, enc))
    assert moved is not None
    assert b"model.a" not in path.read_bytes()
    assert LocalBackend(path, enc).read() == moved
