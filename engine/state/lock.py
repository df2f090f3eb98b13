"""State locks: who holds them, and waiting for one.

Every backend keeps a :class:`LockInfo` beside the state (a lock file, a
DynamoDB item, a lock object). :func:`acquire` is the waiting loop shared by
all backends: it retries the backend's single attempt until ``timeout_s``
and then fails with the holder's details, as ``terraform`` does.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..diagnostics import DiagnosticsError, error
from .model import now_iso

# Operation names follow Terraform's, so the message reads the same.
OP_APPLY = "OperationTypeApply"
OP_PLAN = "OperationTypePlan"
OP_REFRESH = "OperationTypeRefresh"
OP_INVALID = "OperationTypeInvalid"  # state surgery, import, init migration


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _version() -> str:
    from .model import State

    return str(State.model_fields["mlform_version"].default)


class LockInfo(BaseModel):
    """Who holds a state lock and why; stored beside the state while held."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    operation: str = OP_INVALID
    who: str = Field(default_factory=_who)
    when: str = Field(default_factory=now_iso)
    version: str = Field(default_factory=_version)
    path: str = ""
    pid: int = Field(default_factory=os.getpid)
    info: str = ""

    @classmethod
    def parse(cls, data: bytes | str) -> LockInfo:
        """The stored form; an unreadable one becomes an "unknown" holder."""
        try:
            return cls.model_validate_json(data)
        except ValidationError:
            return cls(id="(unknown)", who="(unknown)", operation="(unknown)",
                       when="(unknown)", version="", pid=0)

    def describe(self) -> str:
        """The ``Lock Info:`` block of the lock error message."""
        return (
            "Lock Info:\n"
            f"  ID:        {self.id}\n"
            f"  Path:      {self.path}\n"
            f"  Operation: {self.operation}\n"
            f"  Who:       {self.who}\n"
            f"  PID:       {self.pid}\n"
            f"  Version:   {self.version}\n"
            f"  Created:   {self.when}\n"
            + (f"  Info:      {self.info}\n" if self.info else "")
        )


def lock_error(holder: LockInfo | None, location: str, reason: str = "") -> DiagnosticsError:
    """The diagnostic for a lock we could not get, naming the holder."""
    what = reason or "the state is locked by another process"
    detail = f"Could not lock {location}: {what}.\n"
    if holder is not None:
        detail += "\n" + holder.describe() + "\n"
    detail += (
        "mlform locks the state so that two runs never write it at the same "
        "time. Wait for the holder to finish, or raise --lock-timeout to wait "
        "longer."
    )
    if holder is not None:
        detail += (
            " If the holder is gone (its process was killed or its machine "
            "lost), release the lock with:\n"
            f"  mlform force-unlock {holder.id}"
        )
    return DiagnosticsError(error("Error acquiring the state lock", detail))


class LockMismatch(DiagnosticsError):
    """An unlock whose ID is not the holder's (or of a state not locked at all).

    Not a failure to reach the backend: the manager reports it as it is
    rather than as a lock left behind.
    """


def unlock_mismatch(given: str, holder: LockInfo | None, location: str) -> DiagnosticsError:
    """The diagnostic for unlocking with an ID that does not hold the lock."""
    if holder is None:
        detail = f"{location} is not locked; there is nothing to unlock."
        return LockMismatch(error("Error unlocking the state", detail))
    return LockMismatch(error(
        "Error unlocking the state",
        f"Lock ID {given!r} does not match the lock on {location}.\n\n"
        + holder.describe()
        + "\nCheck the ID and run `mlform force-unlock " + holder.id + "` if that "
        "holder is gone.",
    ))


# Backoff between attempts: quick at first (short local holds), capped so a
# long wait on a remote backend is not a request storm.
_FIRST_DELAY_S = 0.02
_MAX_DELAY_S = 1.0


def acquire(attempt: Callable[[], LockInfo | None], timeout_s: float, location: str,
            *, sleep: Callable[[float], None] = time.sleep) -> None:
    """Call ``attempt`` until it succeeds (returns None) or ``timeout_s`` passes.

    ``attempt`` returns the current holder's info when the lock is taken.
    Raises :func:`lock_error` with the last holder seen after the timeout.
    """
    deadline = time.monotonic() + max(0.0, timeout_s)
    delay = _FIRST_DELAY_S
    while True:
        holder = attempt()
        if holder is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise lock_error(holder, location)
        sleep(min(delay, remaining))
        delay = min(delay * 2, _MAX_DELAY_S)
