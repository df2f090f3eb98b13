"""The apply journal: durable records, replay after a crash, safe compaction."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.state import (
    HistoryRecord,
    LocalBackend,
    ResourceState,
    State,
    StateManager,
    new_operation_id,
)

MakeRS = Callable[..., ResourceState]


def crashed(path: Path) -> StateManager:
    """A new manager on the same files, as the next process after a crash sees them."""
    return StateManager(LocalBackend(path))


def journal_lines(path: Path) -> list[dict[str, Any]]:
    text = (path.parent / (path.name + ".journal")).read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_each_record_is_on_disk_before_the_call_returns(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    op = new_operation_id()
    manager.record_intent("model.m", op, "create", kind="model", provider="local")
    kinds = [r["kind"] for r in journal_lines(state_path)]
    assert kinds == ["header", "intent"]
    manager.record_put(make_rs("model.m", digest="sha256:1"), done=op)
    assert journal_lines(state_path)[-1]["done"] == op
    # The document itself is not rewritten per record.
    assert not state_path.exists()


def test_replay_after_crash_returns_everything_recorded(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    LocalBackend(state_path).write(State())
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a", v=1))
    manager.record_put(make_rs("model.b", v=1))
    manager.record_put(make_rs("model.a", v=2))
    manager.record_remove("model.b")
    rec = HistoryRecord(who="ci@host", outcome="in_progress")
    manager.record_history(rec)
    manager.record_history(rec.model_copy(update={"outcome": "succeeded"}))
    manager.set_outputs({"url": "http://127.0.0.1:8080"})
    # kill -9 here: no commit.
    after = crashed(state_path).load()
    assert [(r.address, r.attributes) for r in after.resources] == [("model.a", {"v": 2})]
    assert [(h.id, h.outcome) for h in after.history] == [(rec.id, "succeeded")]
    assert after.outputs == {"url": "http://127.0.0.1:8080"}
    # It reports the serial compaction will write, so older saved plans are stale.
    assert after.serial == 2
    assert LocalBackend(state_path).read() == after


def test_intent_without_done_is_reported_as_pending(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    finished, lost = new_operation_id(), new_operation_id()
    manager.record_intent("model.a", finished, "create", kind="model", provider="local")
    manager.record_put(make_rs("model.a"), done=finished)
    manager.record_intent("endpoint.e", lost, "create", kind="endpoint", provider="local")
    # crash while the provider was creating endpoint.e
    mgr = crashed(state_path)
    mgr.load()
    pending = mgr.pending_intents()
    assert [(i.operation_id, i.address, i.action, i.kind) for i in pending] == [
        (lost, "endpoint.e", "create", "endpoint")]


def test_pending_intents_survive_compaction_until_resolved(
        state_path: Path, manager: StateManager) -> None:
    manager.load()
    manager.begin()
    lost = new_operation_id()
    manager.record_intent("endpoint.e", lost, "create")
    mgr = crashed(state_path)
    mgr.load()
    mgr.begin()  # compacts the leftover journal into the document
    assert json.loads(state_path.read_text())["pending_operations"][0]["operation_id"] == lost
    assert [i.operation_id for i in mgr.pending_intents()] == [lost]
    mgr.record_done(lost)  # the engine looked: nothing was created
    mgr.commit()
    assert crashed(state_path).pending_intents() == []
    assert "pending_operations" not in json.loads(state_path.read_text())


def test_torn_final_line_is_ignored(state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    manager.record_put(make_rs("model.b"))
    journal = state_path.with_name(state_path.name + ".journal")
    data = journal.read_bytes()
    journal.write_bytes(data[: len(data) - 25])  # the last append was cut short
    after = crashed(state_path).load()
    assert [r.address for r in after.resources] == ["model.a"]


def test_garbled_final_line_is_ignored(state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    journal = state_path.with_name(state_path.name + ".journal")
    with journal.open("ab") as fh:
        fh.write(b"\0" * 40 + b"\n")  # what some filesystems leave after a power cut
    assert [r.address for r in crashed(state_path).load().resources] == ["model.a"]


def test_damage_before_the_last_record_is_an_error_not_silent_loss(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    for name in "abc":
        manager.record_put(make_rs(f"model.{name}"))
    journal = state_path.with_name(state_path.name + ".journal")
    lines = journal.read_bytes().split(b"\n")
    lines[2] = b'{"kind": "put", "resource": '
    journal.write_bytes(b"\n".join(lines))
    with pytest.raises(DiagnosticsError, match="The state journal is damaged") as exc:
        crashed(state_path).load()
    assert "Record 3" in exc.value.diagnostics.errors[0].detail


def test_commit_writes_the_document_once_and_removes_the_journal(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    for i in range(5):
        manager.record_put(make_rs(f"model.m{i}"))
    final = manager.commit()
    assert final.serial == 1 and len(final.resources) == 5
    assert not state_path.with_name(state_path.name + ".journal").exists()
    assert LocalBackend(state_path).read() == final


def test_commit_with_nothing_recorded_does_not_bump_serial(
        state_path: Path, manager: StateManager) -> None:
    LocalBackend(state_path).write(State())
    manager.load()
    manager.begin()
    assert manager.commit().serial == 1
    assert (LocalBackend(state_path).read() or State()).serial == 1


def test_crash_between_compaction_write_and_journal_removal_never_applies_twice(
        state_path: Path, manager: StateManager, make_rs: MakeRS,
        monkeypatch: pytest.MonkeyPatch) -> None:
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    manager.record_put(make_rs("model.b"))

    def die() -> None:
        raise KeyboardInterrupt  # stands in for the process dying here

    monkeypatch.setattr(manager.backend, "journal_remove", die)
    with pytest.raises(KeyboardInterrupt):
        manager.commit()
    monkeypatch.undo()
    journal = state_path.with_name(state_path.name + ".journal")
    assert journal.exists()

    # `mlform state rm model.a` in the next process.
    mgr = crashed(state_path)
    s = mgr.load()
    assert s.serial == 1
    s.remove("model.a")
    mgr.write_full(s)
    assert not journal.exists()
    # A third process: model.a must stay removed (the old journal must not
    # resurrect it), model.b is there once.
    final = crashed(state_path).load()
    assert [r.address for r in final.resources] == ["model.b"]
    assert final.serial == 2


def test_stale_journal_is_skipped_on_read_and_removed_by_begin(
        state_path: Path, manager: StateManager, make_rs: MakeRS,
        monkeypatch: pytest.MonkeyPatch) -> None:
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    monkeypatch.setattr(manager.backend, "journal_remove", lambda: None)
    manager.commit()
    monkeypatch.undo()
    journal = state_path.with_name(state_path.name + ".journal")
    assert journal.exists()
    mgr = crashed(state_path)
    assert mgr.load().serial == 1
    mgr.begin()
    assert journal_lines(state_path)[0]["base_serial"] == 1
    mgr.commit()
    assert not journal.exists()
    assert (LocalBackend(state_path).read() or State()).serial == 1


def test_journal_newer_than_the_state_is_refused(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    b = LocalBackend(state_path)
    b.write(State())
    older = state_path.read_bytes()
    s = b.read()
    assert s is not None
    b.write(s)  # serial 2
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    state_path.write_bytes(older)  # someone restored serial 1 over it
    with pytest.raises(DiagnosticsError, match="newer than the state") as exc:
        crashed(state_path).load()
    assert "move the journal aside" in exc.value.diagnostics.errors[0].detail


def test_journal_of_another_lineage_is_refused(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()
    manager.record_put(make_rs("model.a"))
    LocalBackend(state_path).write(State())  # a different state appears
    with pytest.raises(DiagnosticsError, match="belongs to another state"):
        crashed(state_path).load()


def test_operation_context_closes_the_intent(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    with manager.session():
        with manager.operation("model.a", "create") as op:
            op.put(make_rs("model.a"))
        with manager.operation("model.b", "update"):
            pass  # nothing to record: closed as done
        with pytest.raises(RuntimeError, match="provider exploded"):
            with manager.operation("endpoint.e", "create", kind="endpoint"):
                raise RuntimeError("provider exploded")
    after = crashed(state_path)
    after.load()
    assert [(i.address, i.kind) for i in after.pending_intents()] == [("endpoint.e", "endpoint")]
    assert [r.address for r in after.load().resources] == ["model.a"]


def test_records_from_many_threads_all_land(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    manager.begin()

    def worker(t: int) -> None:
        for i in range(25):
            with manager.operation(f"model.t{t}_{i}", "create") as op:
                op.put(make_rs(f"model.t{t}_{i}", i=i))

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    # Every journal line is whole: records were never interleaved.
    lines = journal_lines(state_path)
    assert len(lines) == 1 + 8 * 25 * 2
    recovered = crashed(state_path).load()
    assert len(recovered.resources) == 200
    assert recovered.resources == manager.snapshot().resources
    assert crashed(state_path).pending_intents() == []


def test_recording_outside_a_session_is_a_programming_error(
        manager: StateManager, make_rs: MakeRS) -> None:
    manager.load()
    with pytest.raises(RuntimeError, match="outside begin"):
        manager.record_put(make_rs("model.a"))
    manager.begin()
    with pytest.raises(RuntimeError, match="during a journaled session"):
        manager.write_full(State())
    with pytest.raises(RuntimeError, match="begin\\(\\) called twice"):
        manager.begin()


def test_fresh_project_crash_recovers_lineage_from_the_journal(
        state_path: Path, manager: StateManager, make_rs: MakeRS) -> None:
    lineage = manager.load().lineage
    manager.begin()
    manager.record_put(make_rs("model.a"))
    after = crashed(state_path).load()
    assert after.lineage == lineage and after.serial == 1
    mgr = crashed(state_path)
    mgr.load()
    mgr.begin()
    assert mgr.commit().lineage == lineage
    assert (LocalBackend(state_path).read() or State()).lineage == lineage


def test_write_full_refuses_older_serial_or_other_lineage(
        state_path: Path, manager: StateManager) -> None:
    s = manager.load()
    manager.write_full(s)
    current = manager.write_full(manager.load())
    assert current.serial == 2
    with pytest.raises(DiagnosticsError, match="older than the stored state"):
        manager.write_full(s)
    with pytest.raises(DiagnosticsError, match="State lineage mismatch"):
        manager.write_full(State())
    assert manager.write_full(State(), force=True).serial == 3
    assert manager.backup_path.endswith("mlform.state.json.backup")
