"""What happens when state cannot be written: diagnostics and the errored state file.

A state write can fail for reasons that have nothing to do with the apply:
the network to S3/GCS drops, the store answers 5xx for longer than the SDK
retries, credentials expire half-way, the local disk fills up. Whatever was
applied by then exists, so its record must not be lost:

* the last resort is :func:`write_errored`: the state the run could not
  persist goes to ``errored.mlform.state.json`` in the project directory
  (Terraform's ``errored.tfstate``), encoded as the backend would have stored
  it (sealed when encryption is on, secrets as digests otherwise), mode 0600,
  and the diagnostic says to ``mlform state push`` it;
* a lock that cannot be released is named with its ID for ``force-unlock``;
* an ``OSError`` from a local write (``ENOSPC``, ``EIO``, ``EDQUOT``) becomes
  a diagnostic that says what happened and that the previous state is intact,
  never a traceback.

The messages are built here so the manager keeps only the flow.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from ..diagnostics import Diagnostic, DiagnosticsError, error
from .codec import encode_state
from .crypto import Encryptor
from .journal import Entry, PutEntry, RemoveEntry
from .model import State

ERRORED_STATE_FILE = "errored.mlform.state.json"

_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def reason(exc: BaseException) -> str:
    """One line saying why a backend call failed."""
    if isinstance(exc, DiagnosticsError):
        first = next(iter(exc.diagnostics), None)
        if first is not None:
            text = f"{first.summary}: {first.detail}" if first.detail else first.summary
            return " ".join(text.split()).rstrip(".")
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror} (errno {errno.errorcode.get(exc.errno or 0, exc.errno)})"
    return f"{type(exc).__name__}: {exc}".rstrip(".")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk or an exceeded quota."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL:
            return True
        seen = seen.__cause__
    return False


def _summary(exc: BaseException, what: str) -> str:
    return f"Failed to {what}: no space left on device" if is_disk_full(exc) else f"Failed to {what}"


def io_error(exc: OSError, what: str, location: str) -> DiagnosticsError:
    """A local write that failed, for a command that writes state whole (begin, state push)."""
    hint = ("Free some space on that filesystem and run the command again."
            if is_disk_full(exc) else "Check the path and its permissions, then run the command again.")
    return DiagnosticsError(error(
        _summary(exc, what),
        f"{reason(exc)}. The previous state at {location} is intact: a state write goes to a "
        f"temporary file that replaces it only once complete. {hint}",
    ))


def not_started(address: str, exc: BaseException, location: str) -> DiagnosticsError:
    """An operation refused because its intent could not be recorded first."""
    return DiagnosticsError(error(
        _summary(exc, "record the state"),
        f"{address} was not started: mlform records each operation in the state before "
        f"calling the provider, and writing to {location} failed: {reason(exc)}. "
        "Operations already running finish and are kept; see the state message at the "
        "end of the apply.",
        address=address,
    ))


def errored_bytes(state: State, encryption: Encryptor | None) -> bytes:
    """The errored file's content: what the backend would have stored."""
    return encode_state(state, encryption)


def write_errored(path: Path, state: State, encryption: Encryptor | None) -> OSError | None:
    """Write ``state`` to ``path`` (mode 0600, fsync'd); the error if that failed too."""
    from .backends.local import atomic_write

    try:
        atomic_write(path, errored_bytes(state, encryption))
    except OSError as exc:
        return exc
    return None


def commit_failed(exc: BaseException, *, location: str, journal: str, errored: Path,
                  errored_error: OSError | None, journal_complete: bool,
                  unrecorded: list[str], refused: list[str], serial: int) -> DiagnosticsError:
    """The diagnostic for a final state write that failed."""
    head = (f"The apply ran, but mlform could not write its state to {location}: "
            f"{reason(exc)}.")
    if refused:
        head += (f" Not started, because the state could not record them first: "
                 f"{', '.join(sorted(set(refused)))}; the next apply does them.")
    if errored_error is None:
        detail = (
            f"{head}\n\nThe state it could not persist (serial {serial}) is in {errored}. "
            "Once the backend works again, and before running anything else, push it:\n"
            f"  mlform state push {errored.name}\n"
            "then delete the file. It holds what a state holds: keep it private."
        )
        if journal_complete:
            detail += (f"\n\nEvery operation is also recorded in the journal {journal}, which "
                       "the next command replays if the errored file is not pushed.")
        return DiagnosticsError(error(_summary(exc, "persist the state"), detail))
    detail = (f"{head} Writing it to {errored} failed as well: {reason(errored_error)}.\n\n"
              f"The previous state at {location} is intact: no write replaces it before "
              "it is complete. ")
    if unrecorded:
        detail += (f"The operations recorded before the failure are in the journal {journal}; "
                   "the next command that takes the lock replays it. The outcome of "
                   f"{', '.join(sorted(set(unrecorded)))} could not be recorded; its intent "
                   "was, so the next apply looks the object up and adopts it. ")
    else:
        detail += (f"Every operation of this run is recorded in the journal {journal}; the "
                   "next command that takes the lock replays it into the state. ")
    detail += ("Free some space and run `mlform plan` to check."
               if is_disk_full(exc) else "Fix the problem and run `mlform plan` to check.")
    return DiagnosticsError(error(_summary(exc, "persist the state"), detail))


def unlock_failed(lock_id: str, location: str, exc: BaseException) -> Diagnostic:
    """A lock this run took and could not release, named for ``force-unlock``."""
    return error(
        "Error releasing the state lock",
        f"mlform locked {location} but could not release the lock: {reason(exc)}.\n\n"
        "While it is held, every other run waits for it. Once the backend is reachable "
        "again, release it with:\n"
        f"  mlform force-unlock {lock_id}",
    )


def fail_commit(backend: Any, state: State, exc: BaseException, errored: Path, *,
                journal_complete: bool, unrecorded: list[str], refused: list[str]) -> DiagnosticsError:
    """After a failed final write: stop the journal (left in place), write the
    errored file, and return the diagnostic saying where everything is."""
    try:
        getattr(backend, "journal_close", lambda: None)()
    except OSError:
        pass
    # The serial the write would have stored, which is also what the journal
    # replays as: `state push` of the file is then not "older".
    unpersisted = state.model_copy(update={"serial": state.serial + 1})
    failed = write_errored(errored, unpersisted, getattr(backend, "encryption", None))
    location = str(backend.location)
    return commit_failed(
        exc, location=location, journal=getattr(backend, "journal_location", location + ".journal"),
        errored=errored, errored_error=failed, journal_complete=journal_complete,
        unrecorded=unrecorded, refused=refused, serial=unpersisted.serial)


def read_state_file(path: Path, encryption: Encryptor | None) -> State:
    """A state document from a file: plaintext, or sealed with ``encryption``."""
    from .codec import decode_state

    return decode_state(path.read_bytes(), encryption, str(path))


def project_errored_path(project_dir: Path | None) -> Path:
    """Where the errored state file goes: the project directory (else the working one)."""
    return (project_dir if project_dir is not None else Path(os.getcwd())) / ERRORED_STATE_FILE


def addresses(entry: Entry) -> list[str]:
    """The resource a record is about, for messages (none for history/outputs)."""
    if isinstance(entry, PutEntry):
        return [entry.resource.address]
    if isinstance(entry, RemoveEntry):
        return [entry.address]
    return []
