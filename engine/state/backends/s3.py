"""The S3 backend: state in an S3 object, locked in DynamoDB or by S3 itself.

Objects (``key`` = ``envs/prod/mlform.state.json`` for example)::

    key                      the document
    key.backup               the previous version
    key.journal/00000000     journal header, then one object per record
    key.lock                 LockInfo JSON (only without a lock table)

Why one object per journal record: S3 has no append, and keeping the journal
on the machine running the apply would lose it with that machine (a CI
runner killed mid-apply). One small PUT per record keeps each record durable
where the state is, at O(record) bytes. Records are numbered, zero-padded,
and created with ``If-None-Match: *`` so a record is never overwritten.

Locking: with ``lock_table`` a DynamoDB item ``LockID = "<bucket>/<key>"``
(the table's partition key, as Terraform names it) is created with
``attribute_not_exists(LockID)`` and deleted with a condition on our lock ID.
Without a table, the ``key.lock`` object is created with ``If-None-Match: *``
(S3 conditional writes; moto supports them too, so tests use the real path).
A remote lock outlives a killed process: ``mlform force-unlock ID`` frees it.

State writes carry ``If-Match: <etag of what we read>`` (``If-None-Match: *``
for the first write), so a writer that skipped the lock cannot be silently
overwritten.

The endpoint comes from ``endpoint_url`` or boto3's own ``AWS_ENDPOINT_URL``
handling (how the tests point at a local moto server).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from ...diagnostics import DiagnosticsError, error
from ..backend import ClientBackend
from ..crypto import Encryptor
from ..lock import LockInfo, unlock_mismatch

T = TypeVar("T")
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _code(exc: Exception) -> str:
    response: Any = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3Client:
    """Byte storage and locking in S3 (and optionally DynamoDB)."""

    def __init__(self, bucket: str, key: str, region: str, lock_table: str | None = None,
                 endpoint_url: str | None = None, dynamodb_endpoint_url: str | None = None) -> None:
        import boto3  # type: ignore[import-untyped, unused-ignore]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped, unused-ignore]

        self._errors: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
        self.bucket = bucket
        self.key = key
        self.lock_table = lock_table
        self.location = f"s3://{bucket}/{key}"
        self.backup_location = f"s3://{bucket}/{key}.backup"
        self._journal_prefix = f"{key}.journal/"
        self._lock_key = f"{key}.lock"
        self.s3: Any = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)
        self.ddb: Any = None
        if lock_table:
            self.ddb = boto3.client("dynamodb", region_name=region,
                                    endpoint_url=dynamodb_endpoint_url or endpoint_url)
        self._etag: str | None = None
        self._seq = 0
        self._mu = threading.Lock()

    def _fail(self, what: str, exc: Exception) -> DiagnosticsError:
        """A diagnostic for a failed AWS call: where, what, and what to check."""
        code = _code(exc)
        hint = ""
        if code == "NoSuchBucket":
            hint = f" Create the bucket {self.bucket!r} or fix `bucket` in the backend block."
        elif code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            hint = " Check the AWS credentials and the bucket policy."
        elif code == "ResourceNotFoundException":
            hint = (f" Create the DynamoDB table {self.lock_table!r} with a string "
                    "partition key named LockID, or fix `lock_table`.")
        return DiagnosticsError(error(f"Failed to {what}", f"{self.location}: {exc}.{hint}"))

    def _call(self, what: str, fn: Callable[..., T], **kwargs: Any) -> T:
        try:
            return fn(**kwargs)
        except self._errors as exc:
            raise self._fail(what, exc) from exc

    def _get(self, key: str) -> tuple[bytes, str] | None:
        try:
            resp = self.s3.get_object(Bucket=self.bucket, Key=key)
        except self._errors as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise self._fail("read state", exc) from exc
        return resp["Body"].read(), str(resp.get("ETag", ""))

    # -- document ------------------------------------------------------------

    def get_state(self) -> bytes | None:
        got = self._get(self.key)
        self._etag = None if got is None else got[1]
        return None if got is None else got[0]

    def get_backup(self) -> bytes | None:
        got = self._get(self.key + ".backup")
        return None if got is None else got[0]

    def put_state(self, data: bytes, backup: bytes | None) -> None:
        if backup is not None:
            self._call("write the state backup", self.s3.put_object,
                       Bucket=self.bucket, Key=self.key + ".backup", Body=backup)
        cond = {"IfMatch": self._etag} if self._etag else {"IfNoneMatch": "*"}
        try:
            resp = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=data, **cond)
        except self._errors as exc:
            if _code(exc) in _PRECONDITION:
                raise DiagnosticsError(error(
                    "State changed while writing",
                    f"{self.location} was written by someone else since mlform read "
                    "it (a run without the lock?). Nothing was overwritten; run the "
                    "command again to work from the current state.",
                )) from exc
            raise self._fail("write state", exc) from exc
        self._etag = str(resp.get("ETag", "")) or None

    # -- journal ---------------------------------------------------------------

    def _journal_keys(self) -> list[str]:
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            resp = self._call("list the state journal", self.s3.list_objects_v2,
                              Bucket=self.bucket, Prefix=self._journal_prefix, **token)
            keys += [o["Key"] for o in resp.get("Contents", [])]
            if not resp.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": resp["NextContinuationToken"]}

    def journal_read(self) -> bytes | None:
        # A concurrent compaction may delete records while we fetch them;
        # re-list and try again rather than return a journal with holes.
        for _ in range(3):
            keys = self._journal_keys()
            if not keys:
                return None
            parts = [self._get(k) for k in keys]
            if all(p is not None for p in parts):
                return b"".join(p[0] for p in parts if p is not None)
        return None

    def _put_new(self, key: str, body: bytes, what: str) -> None:
        self._call(what, self.s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                   IfNoneMatch="*")

    def journal_start(self, header: bytes) -> None:
        with self._mu:
            if self._journal_keys():
                raise RuntimeError(f"{self.location} journal already exists; compact it first")
            self._put_new(f"{self._journal_prefix}{0:08d}", header, "start the state journal")
            self._seq = 1

    def journal_append(self, line: bytes) -> None:
        with self._mu:
            if self._seq == 0:
                raise RuntimeError("journal_append before journal_start")
            self._put_new(f"{self._journal_prefix}{self._seq:08d}", line,
                          "record to the state journal")
            self._seq += 1

    def journal_remove(self) -> None:
        with self._mu:
            keys = self._journal_keys()
            # Header last: while it exists, leftover records are recognised
            # as already compacted (its base serial is below the state's).
            header = [k for k in keys if k.endswith("/00000000")]
            rest = [k for k in keys if k not in header]
            for batch in [rest[i:i + 1000] for i in range(0, len(rest), 1000)] + [header]:
                if batch:
                    self._call("remove the state journal", self.s3.delete_objects,
                               Bucket=self.bucket,
                               Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            self._seq = 0

    # -- locking -----------------------------------------------------------------

    @property
    def _lock_item_key(self) -> dict[str, Any]:
        return {"LockID": {"S": f"{self.bucket}/{self.key}"}}

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        body = info.model_dump_json(indent=2)
        try:
            if self.ddb is not None:
                self.ddb.put_item(
                    TableName=self.lock_table,
                    Item={**self._lock_item_key, "ID": {"S": info.id}, "Info": {"S": body}},
                    ConditionExpression="attribute_not_exists(LockID)",
                )
            else:
                self.s3.put_object(Bucket=self.bucket, Key=self._lock_key,
                                   Body=body.encode("utf-8"), IfNoneMatch="*")
            return None
        except self._errors as exc:
            if _code(exc) not in _PRECONDITION | {"ConditionalCheckFailedException"}:
                raise self._fail("lock the state", exc) from exc
        # Released between our attempt and this read: report an unknown
        # holder so the caller simply tries again.
        return self.current_lock() or LockInfo.parse(b"")

    def current_lock(self) -> LockInfo | None:
        if self.ddb is not None:
            resp = self._call("read the state lock", self.ddb.get_item,
                              TableName=self.lock_table, Key=self._lock_item_key,
                              ConsistentRead=True)
            item = resp.get("Item")
            return None if item is None else LockInfo.parse(item["Info"]["S"])
        got = self._get(self._lock_key)
        return None if got is None else LockInfo.parse(got[0])

    def unlock(self, lock_id: str) -> None:
        if self.ddb is not None:
            try:
                self.ddb.delete_item(
                    TableName=self.lock_table, Key=self._lock_item_key,
                    ConditionExpression="#id = :id",
                    ExpressionAttributeNames={"#id": "ID"},
                    ExpressionAttributeValues={":id": {"S": lock_id}},
                )
                return
            except self._errors as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise self._fail("unlock the state", exc) from exc
            raise unlock_mismatch(lock_id, self.current_lock(), self.location)
        holder = self.current_lock()
        if holder is None or holder.id != lock_id:
            raise unlock_mismatch(lock_id, holder, self.location)
        # No If-Match on the delete: while our lock object exists nobody else
        # can create one, so what we just read is still ours.
        self._call("unlock the state", self.s3.delete_object, Bucket=self.bucket,
                   Key=self._lock_key)

    def force_unlock(self, lock_id: str) -> None:
        # A remote lock is not tied to a process: releasing by ID is the same
        # operation whoever asks.
        self.unlock(lock_id)


class S3Backend(ClientBackend):
    """State in S3, locked through DynamoDB (``lock_table``) or S3 conditional writes."""

    def __init__(self, bucket: str, key: str, region: str, lock_table: str | None = None,
                 endpoint_url: str | None = None, encryption: Encryptor | None = None, *,
                 dynamodb_endpoint_url: str | None = None) -> None:
        self.s3_client = S3Client(bucket, key, region, lock_table, endpoint_url,
                                  dynamodb_endpoint_url)
        super().__init__(self.s3_client, encryption)
