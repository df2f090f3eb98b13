"""GCS backend against gcp-storage-emulator on 127.0.0.1."""

from __future__ import annotations

import base64
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import (
    OP_APPLY,
    Encryptor,
    GCSBackend,
    ResourceState,
    State,
    StateManager,
    backend_from_config,
    new_operation_id,
)

SECRET = "gcs-secret-token-value"


def rs(address: str, **attributes: Any) -> ResourceState:
    kind, name = address.split(".", 1)
    return ResourceState(address=address, kind=kind, name=name, provider="local",
                         attributes=attributes)


@pytest.fixture
def bucket(gcs_emulator: str) -> str:
    from google.cloud import storage

    name = f"mlf-{uuid.uuid4().hex[:12]}"
    storage.Client().create_bucket(name)
    return name


def objects(bucket: str) -> dict[str, bytes]:
    from google.cloud import storage

    client = storage.Client()
    return {b.name: b.download_as_bytes() for b in client.list_blobs(bucket)}


def test_fixture_points_the_client_at_the_emulator(gcs_emulator: str) -> None:
    assert gcs_emulator.startswith("http://127.0.0.1:")
    assert os.environ["STORAGE_EMULATOR_HOST"] == gcs_emulator


def test_write_read_serial_and_backup(bucket: str, tmp_path: Path) -> None:
    b = backend_from_config("gcs", {"bucket": bucket, "prefix": "envs/prod/"}, tmp_path, None)
    assert b.location == f"gs://{bucket}/envs/prod/mlform.state.json"
    assert b.read() is None
    first = b.write(State())
    s = b.read()
    assert s is not None
    s.put(rs("model.a"))
    second = b.write(s)
    assert (first.serial, second.serial) == (1, 2)
    assert b.read() == second
    assert sorted(objects(bucket)) == ["envs/prod/mlform.state.json",
                                       "envs/prod/mlform.state.json.backup"]


def test_journal_replays_after_a_crash_and_compaction_removes_it(bucket: str) -> None:
    mgr = StateManager(GCSBackend(bucket, "p"))
    with mgr.locked(OP_APPLY, timeout_s=5):
        mgr.load()
        mgr.begin()
        lost = new_operation_id()
        mgr.record_put(rs("model.a"))
        mgr.record_intent("endpoint.e", lost, "create")
        assert sorted(k for k in objects(bucket) if ".journal/" in k) == [
            f"p/mlform.state.json.journal/{i:08d}" for i in range(3)]
    other = StateManager(GCSBackend(bucket, "p"))
    assert [r.address for r in other.load().resources] == ["model.a"]
    assert [i.operation_id for i in other.pending_intents()] == [lost]
    with other.session():
        other.record_done(lost)
    # begin() compacted the crashed run (serial 1), commit wrote serial 2.
    assert sorted(objects(bucket)) == ["p/mlform.state.json", "p/mlform.state.json.backup"]
    assert (GCSBackend(bucket, "p").read() or State()).serial == 2


def test_lock_is_exclusive_and_force_unlock_needs_the_id(bucket: str) -> None:
    a = StateManager(GCSBackend(bucket, "p"))
    b = StateManager(GCSBackend(bucket, "p"))
    lock_id = a.lock(OP_APPLY, timeout_s=0)
    with pytest.raises(DiagnosticsError, match="Error acquiring the state lock") as exc:
        b.lock(OP_APPLY, timeout_s=0.2)
    assert lock_id in exc.value.diagnostics.errors[0].detail
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as wrong:
        b.force_unlock("wrong-id")
    assert "does not match" in wrong.value.diagnostics.errors[0].detail
    b.force_unlock(lock_id)
    b_id = b.lock(OP_APPLY, timeout_s=0)
    assert (a.current_lock() or pytest.fail("lock lost")).id == b_id
    b.unlock()
    assert a.current_lock() is None


def test_a_write_that_raced_another_writer_is_refused(bucket: str) -> None:
    a, b = GCSBackend(bucket, "p"), GCSBackend(bucket, "p")
    a.write(State())
    base = b.read()
    assert base is not None
    a.gcs_client.get_state()  # a read generation 1...
    b.write(base)  # ...b replaced it without the lock
    with pytest.raises(DiagnosticsError, match="State changed while writing"):
        a.gcs_client.put_state(b"{}", None)
    assert (b.read() or State()).serial == 2


def test_encrypted_objects_hold_no_plaintext(bucket: str) -> None:
    enc = Encryptor.from_secret(base64.b64encode(os.urandom(32)).decode(), "MLFORM_STATE_KEY")
    mgr = StateManager(GCSBackend(bucket, "p", enc))
    mgr.load()
    with mgr.session():
        mgr.record_put(rs("endpoint.a", token=SECRET))
    mgr.begin()
    mgr.record_put(rs("endpoint.b", token=SECRET))
    stored = objects(bucket)
    mgr.commit()
    stored.update(objects(bucket))
    assert len(stored) == 4  # state, backup, journal header and record
    for name, data in stored.items():
        assert SECRET.encode() not in data, name
    assert (GCSBackend(bucket, "p", enc).read() or State()).get("endpoint.b") is not None
