"""The GCS backend: state objects under a prefix in a Cloud Storage bucket.

Objects (``prefix`` = ``envs/prod`` for example)::

    envs/prod/mlform.state.json              the document
    envs/prod/mlform.state.json.backup       the previous version
    envs/prod/mlform.state.json.journal/N    journal header (0) and records
    envs/prod/mlform.state.json.lock         LockInfo JSON while locked

Every mutation carries a generation precondition, GCS's compare-and-swap:
the lock and each journal record are created with ``if_generation_match=0``
(only if absent), the document is replaced with ``if_generation_match`` set
to the generation we read (0 when there was none), and the lock is deleted
only at the generation we saw. The journal is one object per record for the
same reason as on S3 (see ``s3.py``): no append, and it must outlive the
machine running the apply.

Credentials are Application Default Credentials; ``STORAGE_EMULATOR_HOST``
points the client at an emulator (the tests do).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, TypeVar

from ...diagnostics import DiagnosticsError, error
from ..backend import ClientBackend
from ..crypto import Encryptor
from ..lock import LockInfo, unlock_mismatch

T = TypeVar("T")
STATE_NAME = "mlform.state.json"
# How long one call retries a 5xx, 429 or dropped connection before it fails
# (the library's default is 120 s; an apply's state write should give up
# sooner and fall back to the errored state file). Read at construction.
RETRY_TIMEOUT_S = 60.0


class GCSClient:
    """Byte storage and locking in a GCS bucket, with generation preconditions."""

    def __init__(self, bucket: str, prefix: str, client: Any = None) -> None:
        from google.api_core import exceptions as gexc  # type: ignore[import-untyped, unused-ignore]
        from google.cloud import storage  # type: ignore[import-untyped, attr-defined, unused-ignore]
        from google.cloud.storage.retry import DEFAULT_RETRY  # type: ignore[import-untyped, unused-ignore]

        self._gexc = gexc
        # Every call retries transient failures, conditional writes included
        # (a retried create that had landed gets 412, which callers handle).
        self._retry: Any = DEFAULT_RETRY.with_timeout(RETRY_TIMEOUT_S)
        self._client: Any = client if client is not None else storage.Client()
        self._bucket: Any = self._client.bucket(bucket)
        base = prefix.strip("/")
        self.name = f"{base}/{STATE_NAME}" if base else STATE_NAME
        self.bucket_name = bucket
        self.location = f"gs://{bucket}/{self.name}"
        self.backup_location = f"{self.location}.backup"
        self._journal_prefix = f"{self.name}.journal/"
        self._lock_name = f"{self.name}.lock"
        self._generation: int = 0
        self._seq = 0
        self._mu = threading.Lock()

    def _fail(self, what: str, exc: Exception) -> DiagnosticsError:
        """A diagnostic for a failed GCS call: where, what, and what to check."""
        hint = ""
        if isinstance(exc, self._gexc.NotFound):
            hint = f" Does the bucket {self.bucket_name!r} exist?"
        elif isinstance(exc, self._gexc.Forbidden):
            hint = " Check the credentials' permissions on the bucket."
        return DiagnosticsError(error(f"Failed to {what}", f"{self.location}: {exc}.{hint}"))

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the client; API errors other than a failed precondition become diagnostics."""
        try:
            return fn(*args, **kwargs)
        except self._gexc.PreconditionFailed:
            raise
        except self._gexc.GoogleAPIError as exc:
            raise self._fail(what, exc) from exc

    def _get(self, name: str) -> tuple[bytes, int] | None:
        """Content and generation of one object, consistent with each other."""
        for _ in range(5):
            blob = self._call("read state", self._bucket.get_blob, name, retry=self._retry)
            if blob is None:
                return None
            # Taken before the download, which refreshes the properties from
            # response headers (an emulator may not send the generation).
            generation = int(blob.generation)
            try:
                data = blob.download_as_bytes(if_generation_match=generation, retry=self._retry)
            except (self._gexc.PreconditionFailed, self._gexc.NotFound):
                continue  # replaced or deleted between metadata and content
            except self._gexc.GoogleAPIError as exc:
                raise self._fail("read state", exc) from exc
            return bytes(data), generation
        raise DiagnosticsError(error(
            "Failed to read state", f"gs://{self.bucket_name}/{name} kept changing while being read.",
        ))

    # -- document ------------------------------------------------------------

    def get_state(self) -> bytes | None:
        got = self._get(self.name)
        self._generation = 0 if got is None else got[1]
        return None if got is None else got[0]

    def get_backup(self) -> bytes | None:
        got = self._get(self.name + ".backup")
        return None if got is None else got[0]

    def put_state(self, data: bytes, backup: bytes | None) -> None:
        if backup is not None:
            self._call("write the state backup",
                       self._bucket.blob(self.name + ".backup").upload_from_string, backup,
                       retry=self._retry)
        blob = self._bucket.blob(self.name)
        try:
            self._call("write state", blob.upload_from_string, data,
                       content_type="application/json", if_generation_match=self._generation,
                       retry=self._retry)
        except self._gexc.PreconditionFailed as exc:
            raise DiagnosticsError(error(
                "State changed while writing",
                f"{self.location} was written by someone else since mlform read it "
                "(a run without the lock?). Nothing was overwritten; run the command "
                "again to work from the current state.",
            )) from exc
        self._generation = int(blob.generation)

    # -- journal ---------------------------------------------------------------

    def _journal_names(self) -> list[str]:
        blobs = self._call("list the state journal", self._client.list_blobs,
                           self._bucket, prefix=self._journal_prefix, retry=self._retry)
        return sorted(b.name for b in blobs)

    def journal_read(self) -> bytes | None:
        # Records may vanish under a concurrent compaction; re-list then.
        for _ in range(3):
            names = self._journal_names()
            if not names:
                return None
            parts = [self._get(n) for n in names]
            if all(p is not None for p in parts):
                return b"".join(p[0] for p in parts if p is not None)
        return None

    def _create(self, name: str, body: bytes, what: str) -> None:
        self._call(what, self._bucket.blob(name).upload_from_string, body,
                   if_generation_match=0, retry=self._retry)

    def journal_start(self, header: bytes) -> None:
        with self._mu:
            if self._journal_names():
                raise RuntimeError(f"{self.location} journal already exists; compact it first")
            self._create(f"{self._journal_prefix}{0:08d}", header, "start the state journal")
            self._seq = 1

    def journal_append(self, line: bytes) -> None:
        with self._mu:
            if self._seq == 0:
                raise RuntimeError("journal_append before journal_start")
            self._create(f"{self._journal_prefix}{self._seq:08d}", line,
                         "record to the state journal")
            self._seq += 1

    def journal_remove(self) -> None:
        with self._mu:
            names = self._journal_names()
            # Header last, so leftovers of an interrupted removal still carry
            # the base serial that marks them as already compacted.
            for name in [n for n in names if not n.endswith("/00000000")] + \
                        [n for n in names if n.endswith("/00000000")]:
                try:
                    self._bucket.delete_blob(name, retry=self._retry)
                except self._gexc.NotFound:
                    pass  # already gone: removal is idempotent
                except self._gexc.GoogleAPIError as exc:
                    raise self._fail("remove the state journal", exc) from exc
            self._seq = 0

    # -- locking -----------------------------------------------------------------

    def try_lock(self, info: LockInfo) -> LockInfo | None:
        try:
            self._create(self._lock_name, info.model_dump_json(indent=2).encode("utf-8"),
                         "lock the state")
            return None
        except self._gexc.PreconditionFailed:
            # Released between our attempt and this read: an unknown holder
            # makes the caller simply try again.
            return self.current_lock() or LockInfo.parse(b"")

    def current_lock(self) -> LockInfo | None:
        got = self._get(self._lock_name)
        return None if got is None else LockInfo.parse(got[0])

    def unlock(self, lock_id: str) -> None:
        got = self._get(self._lock_name)
        holder = None if got is None else LockInfo.parse(got[0])
        if got is None or holder is None or holder.id != lock_id:
            raise unlock_mismatch(lock_id, holder, self.location)
        try:
            self._call("unlock the state", self._bucket.delete_blob, self._lock_name,
                       if_generation_match=got[1], retry=self._retry)
        except self._gexc.PreconditionFailed as exc:
            raise unlock_mismatch(lock_id, self.current_lock(), self.location) from exc

    def force_unlock(self, lock_id: str) -> None:
        # Not tied to a process: releasing by ID is the same whoever asks.
        self.unlock(lock_id)


class GCSBackend(ClientBackend):
    """State in Google Cloud Storage under ``gs://bucket/prefix/``."""

    def __init__(self, bucket: str, prefix: str, encryption: Encryptor | None = None, *,
                 client: Any = None) -> None:
        self.gcs_client = GCSClient(bucket, prefix, client)
        super().__init__(self.gcs_client, encryption)
