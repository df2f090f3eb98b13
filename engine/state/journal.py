"""The append-only apply journal: record formats, decoding and replay.

Rewriting the whole state after each resource operation costs O(N^2) bytes
over an apply of N resources. Instead each completed operation appends one
small record to a journal beside the state (one fsync'd line, or one object
on a remote backend) - O(N) in total - and :func:`replay` rebuilds the
current state from the last written document plus the journal.

A journal is a header followed by records, one JSON object per line::

    {"kind":"header","version":1,"lineage":"...","base_serial":7,...}
    {"kind":"intent","intent":{"operation_id":"...","address":"...","action":"create",...}}
    {"kind":"put","resource":{...ResourceState...},"done":"<operation_id>"}
    {"kind":"remove","address":"...","done":null}
    {"kind":"done","operation_id":"..."}
    {"kind":"history","record":{...HistoryRecord...}}
    {"kind":"outputs","outputs":{...}}

With encryption on, each line is instead a one-line encryption envelope of
that JSON. ``base_serial`` is the serial of the state document the journal
builds on. Compaction writes the replayed state with ``base_serial + 1``
*then* removes the journal, so a journal whose base is below the document's
serial has already been applied and is skipped - a crash between the two
steps never applies it twice.

Only the final line may be incomplete (a crash mid-append; it was never
acknowledged) and is ignored; damage anywhere else is an error, because
silently dropping acknowledged records would lose infrastructure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..diagnostics import DiagnosticsError, error
from .codec import PURPOSE_JOURNAL
from .crypto import Encryptor, is_envelope, open_envelope, seal_bytes
from .model import HistoryRecord, Intent, ResourceState, State, now_iso

JOURNAL_VERSION = 1


class JournalHeader(BaseModel):
    """First record: which state document this journal builds on."""

    kind: Literal["header"] = "header"
    version: int = JOURNAL_VERSION
    lineage: str
    base_serial: int
    operation: str = "apply"
    created: str = Field(default_factory=now_iso)


class IntentEntry(BaseModel):
    """A provider call is about to start (written before the call)."""

    kind: Literal["intent"] = "intent"
    intent: Intent


class PutEntry(BaseModel):
    """A resource's new state; ``done`` closes an intent in the same write."""

    kind: Literal["put"] = "put"
    resource: ResourceState
    done: str | None = None


class RemoveEntry(BaseModel):
    """A resource left state; ``done`` closes an intent in the same write."""

    kind: Literal["remove"] = "remove"
    address: str
    done: str | None = None


class DoneEntry(BaseModel):
    """The intent's call finished and its outcome is recorded."""

    kind: Literal["done"] = "done"
    operation_id: str


class HistoryEntry(BaseModel):
    """A history record, added or replaced by id."""

    kind: Literal["history"] = "history"
    record: HistoryRecord


class OutputsEntry(BaseModel):
    """The root module's outputs, replaced as a whole."""

    kind: Literal["outputs"] = "outputs"
    outputs: dict[str, Any]


Entry = Union[IntentEntry, PutEntry, RemoveEntry, DoneEntry, HistoryEntry, OutputsEntry]
_ANY: TypeAdapter[JournalHeader | Entry] = TypeAdapter(
    Annotated[Union[JournalHeader, Entry], Field(discriminator="kind")]
)


def encode_entry(entry: JournalHeader | Entry, enc: Encryptor | None) -> bytes:
    """One journal line, newline included (encrypted when ``enc`` is set;
    without encryption, sensitive values are written as digests)."""
    if enc is None:
        from .sensitive import mask, mask_outputs
        if isinstance(entry, PutEntry) and entry.resource.sensitive_paths:
            r = entry.resource
            entry = entry.model_copy(update={"resource": r.model_copy(
                update={"attributes": mask(r.attributes, r.sensitive_paths)})})
        elif isinstance(entry, OutputsEntry):
            entry = entry.model_copy(update={"outputs": mask_outputs(entry.outputs)})
    data = entry.model_dump_json().encode("utf-8")
    if enc is not None:
        data = seal_bytes(data, enc, PURPOSE_JOURNAL)
    return data + b"\n"


@dataclass
class Journal:
    """A decoded journal: its header and records in order."""

    header: JournalHeader
    entries: list[Entry] = field(default_factory=list)
    torn_tail: bool = False


def _decode_line(line: bytes, enc: Encryptor | None, where: str) -> JournalHeader | Entry:
    doc = json.loads(line)
    if is_envelope(doc):
        doc = json.loads(open_envelope(doc, enc, PURPOSE_JOURNAL, where))
    return _ANY.validate_python(doc)


def decode_journal(data: bytes, enc: Encryptor | None, where: str) -> Journal | None:
    """Parse a journal; None if it holds no complete header.

    Raises :class:`DiagnosticsError` for a damaged record before the last one
    or a record that cannot be decrypted.
    """
    lines = data.split(b"\n")
    # Everything after the last newline was never acknowledged: a torn append.
    torn = lines.pop() != b""
    parsed: list[JournalHeader | Entry] = []
    for i, line in enumerate(lines):
        is_last = i == len(lines) - 1
        try:
            parsed.append(_decode_line(line, enc, where))
        except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as exc:
            if is_last:
                # A crash can leave a terminated but garbled final block
                # (e.g. zeros on some filesystems); it was never acknowledged.
                torn = True
                break
            raise DiagnosticsError(error(
                "The state journal is damaged",
                f"Record {i + 1} of {where} cannot be read ({type(exc).__name__}); "
                "later records are intact, so this is not an interrupted write. "
                "Move the journal aside to continue from the last written state "
                "(operations recorded only in the journal will be lost; `mlform "
                "refresh` and `mlform import` can recover them).",
            )) from exc
    if not parsed:
        return None
    header = parsed[0]
    if not isinstance(header, JournalHeader):
        raise DiagnosticsError(error(
            "The state journal is damaged",
            f"{where} does not start with a header record. Move it aside to "
            "continue from the last written state.",
        ))
    entries: list[Entry] = []
    for e in parsed[1:]:
        if isinstance(e, JournalHeader):
            raise DiagnosticsError(error(
                "The state journal is damaged",
                f"{where} has a second header. Move it aside to continue from "
                "the last written state.",
            ))
        entries.append(e)
    return Journal(header, entries, torn)


def apply_entry(state: State, entry: Entry) -> None:
    """Apply one record to ``state`` in place (idempotent by construction)."""
    if isinstance(entry, IntentEntry):
        oid = entry.intent.operation_id
        if not any(p.operation_id == oid for p in state.pending_operations):
            state.pending_operations.append(entry.intent)
        return
    if isinstance(entry, PutEntry):
        state.put(entry.resource)
        done: str | None = entry.done
    elif isinstance(entry, RemoveEntry):
        state.remove(entry.address)
        done = entry.done
    elif isinstance(entry, DoneEntry):
        done = entry.operation_id
    elif isinstance(entry, HistoryEntry):
        state.put_history(entry.record)
        return
    else:
        state.outputs = dict(entry.outputs)
        return
    if done is not None:
        state.pending_operations = [p for p in state.pending_operations if p.operation_id != done]


@dataclass
class Replayed:
    """Result of :func:`replay`.

    ``applied`` is how many records were applied; ``stale`` says the journal
    was already compacted into the document (safe to delete).
    """

    state: State | None
    applied: int = 0
    stale: bool = False
    journal: Journal | None = None


def replay(base: State | None, journal: Journal | None, where: str) -> Replayed:
    """The state after applying ``journal`` to the stored document ``base``.

    ``base`` is not modified. A journal with records yields serial
    ``base_serial + 1`` - what compaction will write - so saved plans made
    before the crash are seen as stale. Raises :class:`DiagnosticsError` when
    the journal belongs to another state or to a newer one than ``base``.
    """
    if journal is None:
        return Replayed(base)
    h = journal.header
    if h.version > JOURNAL_VERSION:
        raise DiagnosticsError(error(
            "Unsupported state journal",
            f"{where} has version {h.version}; use the mlform version that wrote it.",
        ))
    if base is not None and base.lineage != h.lineage:
        raise DiagnosticsError(error(
            "The state journal belongs to another state",
            f"{where} was written for lineage {h.lineage}, but the state has lineage "
            f"{base.lineage}. It is left over from a different state; move it aside.",
        ))
    base_serial = base.serial if base is not None else 0
    if base_serial > h.base_serial:
        return Replayed(base, stale=True, journal=journal)
    if base_serial < h.base_serial:
        raise DiagnosticsError(error(
            "The state journal is newer than the state",
            f"{where} builds on serial {h.base_serial}, but the state is at serial "
            f"{base_serial}: the state was replaced by an older copy while an apply "
            "was recording. Restore the newer state, or move the journal aside to "
            "keep the older one.",
        ))
    if base is None:
        state = State(lineage=h.lineage, serial=0)
    else:
        state = base.model_copy(deep=True)
    if not journal.entries:
        return Replayed(state if base is not None else None, journal=journal)
    for entry in journal.entries:
        apply_entry(state, entry)
    state.serial = h.base_serial + 1
    return Replayed(state, applied=len(journal.entries), journal=journal)
