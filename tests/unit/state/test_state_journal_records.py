"""Journal records as the next process replays them (issue 22).

A journal from a newer mlform is refused rather than half-read; a secret never reaches an
unencrypted journal in plain text; an intent recorded twice (a retried write) is one pending
operation; replaying never changes the stored document it starts from.
"""

from __future__ import annotations

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import ResourceState, State
from mlform.engine.state.journal import (
    JOURNAL_VERSION, IntentEntry, Journal, JournalHeader, PutEntry, decode_journal, encode_entry, replay,
)
from mlform.engine.state.model import Intent


def _rs(address: str, **attrs: object) -> ResourceState:
    kind, name = address.split(".", 1)
    return ResourceState(address=address, kind=kind, name=name, provider="local", attributes=attrs)


def test_a_journal_from_a_newer_mlform_is_refused() -> None:
    assert JournalHeader(lineage="l", base_serial=0).version == JOURNAL_VERSION == 1
    base = State(lineage="l", serial=3)
    newer = Journal(JournalHeader(lineage="l", base_serial=3, version=JOURNAL_VERSION + 1))
    with pytest.raises(DiagnosticsError) as ei:
        replay(base, newer, "s.journal")
    d = ei.value.diagnostics.errors[0]
    assert d.summary == "Unsupported state journal"
    assert d.detail == "s.journal has version 2; use the mlform version that wrote it."


def test_an_unencrypted_journal_holds_a_digest_of_each_secret_and_replays_it() -> None:
    secret = _rs("endpoint.e", token="s3cret", replicas=2).model_copy(update={"sensitive_paths": [["token"]]})
    line = encode_entry(PutEntry(resource=secret), None)
    assert b"s3cret" not in line and b"__mlform_sensitive_sha256__" in line
    header = encode_entry(JournalHeader(lineage="l", base_serial=1), None)
    journal = decode_journal(header + line, None, "j")
    assert journal is not None
    got = replay(State(lineage="l", serial=1), journal, "j").state
    assert got is not None
    r = got.get("endpoint.e")
    assert r is not None and r.attributes["replicas"] == 2 and r.attributes["token"] != "s3cret"


def test_an_intent_recorded_twice_is_one_pending_operation() -> None:
    intent = Intent(operation_id="op-1", address="model.m", action="create")
    other = Intent(operation_id="op-2", address="model.n", action="create")
    journal = Journal(JournalHeader(lineage="l", base_serial=0),
                      [IntentEntry(intent=intent), IntentEntry(intent=intent), IntentEntry(intent=other)])
    got = replay(None, journal, "j").state
    assert got is not None
    assert [p.operation_id for p in got.pending_operations] == ["op-1", "op-2"]
    assert got.serial == 1 and got.lineage == "l"


def test_replay_leaves_the_stored_document_as_it_was() -> None:
    base = State(lineage="l", serial=4, resources=[_rs("model.a", v=1)])
    before = base.model_dump()
    journal = Journal(JournalHeader(lineage="l", base_serial=4),
                      [PutEntry(resource=_rs("model.a", v=2)), PutEntry(resource=_rs("model.b", v=1))])
    got = replay(base, journal, "j").state
    assert got is not None and got.serial == 5
    assert [(r.address, r.attributes) for r in got.resources] == [("model.a", {"v": 2}), ("model.b", {"v": 1})]
    assert base.model_dump() == before
