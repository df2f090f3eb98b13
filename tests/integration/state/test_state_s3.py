"""S3 (+DynamoDB) backend against a moto server over real HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import os
from typing import Any, Iterator

import boto3
import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import (
    OP_APPLY,
    Encryptor,
    LocalBackend,
    LockInfo,
    ResourceState,
    S3Backend,
    State,
    StateManager,
    backend_from_config,
    migrate_state,
    new_operation_id,
)

SECRET = "s3-secret-token-value"


def rs(address: str, **attributes: Any) -> ResourceState:
    kind, name = address.split(".", 1)
    return ResourceState(address=address, kind=kind, name=name, provider="local",
                         attributes=attributes)


@pytest.fixture
def bucket(moto_server: str, unique_name: str) -> str:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=unique_name)
    return unique_name


@pytest.fixture
def lock_table(moto_server: str, unique_name: str) -> Iterator[str]:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    name = unique_name + "-locks"
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
    yield name


@pytest.fixture
def raw_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def objects(bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_fixture_points_boto3_at_the_local_server(moto_server: str) -> None:
    assert moto_server.startswith("http://127.0.0.1:")
    assert os.environ["AWS_ENDPOINT_URL"] == moto_server
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"


def test_write_read_serial_and_backup(bucket: str, lock_table: str) -> None:
    b = S3Backend(bucket, "envs/prod/mlform.state.json", "us-east-1", lock_table=lock_table)
    assert b.read() is None
    first = b.write(State())
    s = b.read()
    assert s is not None
    s.put(rs("model.a"))
    second = b.write(s)
    assert (first.serial, second.serial) == (1, 2) and first.lineage == second.lineage
    assert b.read() == second
    backup = b.read_backup()
    assert backup is not None and backup.serial == 1
    assert sorted(objects(bucket)) == ["envs/prod/mlform.state.json",
                                       "envs/prod/mlform.state.json.backup"]


def test_journal_is_one_object_per_record_and_replays_after_a_crash(bucket: str, lock_table: str) -> None:
    key = "mlform.state.json"
    mgr = StateManager(S3Backend(bucket, key, "us-east-1", lock_table=lock_table))
    with mgr.locked(OP_APPLY, timeout_s=5):
        mgr.load()
        mgr.begin()
        done, lost = new_operation_id(), new_operation_id()
        mgr.record_intent("model.a", done, "create")
        mgr.record_put(rs("model.a", v=1), done=done)
        mgr.record_intent("endpoint.e", lost, "create", kind="endpoint", provider="local")
        journal = sorted(k for k in objects(bucket) if ".journal/" in k)
        assert journal == [f"{key}.journal/{i:08d}" for i in range(4)]
    # The process died: no commit. Another machine recovers from the bucket.
    other = StateManager(S3Backend(bucket, key, "us-east-1", lock_table=lock_table))
    with other.locked(OP_APPLY, timeout_s=5):
        state = other.load()
        assert [r.address for r in state.resources] == ["model.a"]
        assert [i.operation_id for i in other.pending_intents()] == [lost]
        with other.session():
            other.record_done(lost)
    assert not [k for k in objects(bucket) if ".journal/" in k]
    final = S3Backend(bucket, key, "us-east-1").read()
    assert final is not None and final.pending_operations == [] and final.serial == 2


def test_dynamodb_lock_contention_unlock_and_force_unlock(bucket: str, lock_table: str) -> None:
    a = StateManager(S3Backend(bucket, "k", "us-east-1", lock_table=lock_table))
    b = StateManager(S3Backend(bucket, "k", "us-east-1", lock_table=lock_table))
    lock_id = a.lock(OP_APPLY, timeout_s=0)
    item = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=lock_table, Key={"LockID": {"S": f"{bucket}/k"}})["Item"]
    assert item["ID"]["S"] == lock_id
    with pytest.raises(DiagnosticsError, match="Error acquiring the state lock") as exc:
        b.lock(OP_APPLY, timeout_s=0.2)
    detail = exc.value.diagnostics.errors[0].detail
    assert lock_id in detail and "OperationTypeApply" in detail
    assert f"mlform force-unlock {lock_id}" in detail
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as wrong:
        b.force_unlock("not-" + lock_id)
    assert "does not match" in wrong.value.diagnostics.errors[0].detail
    b.force_unlock(lock_id)  # a is "gone"
    assert b.current_lock() is None
    b_id = b.lock(OP_APPLY, timeout_s=0)
    with pytest.raises(DiagnosticsError, match="Error unlocking the state") as stale:
        a.backend.unlock(lock_id)  # the old holder cannot release the new lock
    assert "does not match" in stale.value.diagnostics.errors[0].detail
    assert (b.current_lock() or pytest.fail("lock lost")).id == b_id
    b.unlock()


def test_s3_conditional_write_lock_without_a_table(bucket: str) -> None:
    a = S3Backend(bucket, "k", "us-east-1")
    b = S3Backend(bucket, "k", "us-east-1")
    mgr_a, mgr_b = StateManager(a), StateManager(b)
    lock_id = mgr_a.lock(OP_APPLY, timeout_s=0)
    assert "k.lock" in objects(bucket)
    with pytest.raises(DiagnosticsError, match="Error acquiring the state lock") as exc:
        mgr_b.lock(OP_APPLY, timeout_s=0.2)
    assert lock_id in exc.value.diagnostics.errors[0].detail
    mgr_a.unlock()
    assert "k.lock" not in objects(bucket)
    mgr_b.lock(OP_APPLY, timeout_s=0)
    mgr_b.unlock()


def test_a_write_that_raced_another_writer_is_refused(bucket: str) -> None:
    a = S3Backend(bucket, "k", "us-east-1")
    b = S3Backend(bucket, "k", "us-east-1")
    a.write(State())
    base = a.read()
    assert base is not None
    a.s3_client.get_state()  # a has read the document (and its ETag)...
    b.write(base)  # ...then b, skipping the lock, writes serial 2
    with pytest.raises(DiagnosticsError, match="State changed while writing"):
        a.s3_client.put_state(b"{}", None)
    assert (b.read() or State()).serial == 2


def test_encrypted_state_journal_and_backup_hold_no_plaintext(bucket: str, raw_key: str) -> None:
    enc = Encryptor.from_secret(raw_key, "MLFORM_STATE_KEY")
    mgr = StateManager(S3Backend(bucket, "k", "us-east-1", encryption=enc))
    mgr.load()
    with mgr.session():
        mgr.record_put(rs("endpoint.a", token=SECRET))
    mgr.begin()
    mgr.record_put(rs("endpoint.b", token=SECRET))
    stored = objects(bucket)
    mgr.commit()
    stored.update(objects(bucket))
    assert {"k", "k.backup", "k.journal/00000000", "k.journal/00000001"} <= set(stored)
    for name, data in stored.items():
        assert SECRET.encode() not in data, name
    with pytest.raises(DiagnosticsError, match="no key is configured"):
        S3Backend(bucket, "k", "us-east-1").read()


def test_missing_bucket_and_missing_lock_table_say_what_to_create(moto_server: str, unique_name: str) -> None:
    with pytest.raises(DiagnosticsError, match="Failed to read state") as exc:
        S3Backend(unique_name, "k", "us-east-1").write(State())
    assert f"Create the bucket '{unique_name}'" in exc.value.diagnostics.errors[0].detail
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=unique_name)
    with pytest.raises(DiagnosticsError, match="Failed to lock the state") as lock_exc:
        S3Backend(unique_name, "k", "us-east-1", lock_table="nope").lock(LockInfo(), 0)
    assert "partition key named LockID" in lock_exc.value.diagnostics.errors[0].detail


def test_factory_and_migration_from_local_to_s3(tmp_path: Any, bucket: str, lock_table: str,
                                                moto_server: str) -> None:
    local = LocalBackend(tmp_path / "mlform.state.json")
    mgr = StateManager(local)
    mgr.load()
    with mgr.session():
        mgr.record_put(rs("model.a"))
    remote = backend_from_config("s3", {"bucket": bucket, "key": "team/mlform.state.json",
                                        "region": "us-east-1", "lock_table": lock_table,
                                        "endpoint_url": moto_server}, tmp_path, None)
    moved = migrate_state(local, remote)
    assert moved is not None and moved.lineage == (local.read() or State()).lineage
    assert remote.read() == moved
    assert remote.current_lock() is None
