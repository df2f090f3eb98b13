"""The state document (docs/state.md), as stored and as the engine uses it."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

FORMAT_VERSION = "1.0"

# The provider protocol's Action, repeated so that state does not import providers.
IntentAction = Literal["create", "update", "delete"]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class ResourceState(BaseModel):
    """One resource instance as recorded after an apply."""

    model_config = ConfigDict(extra="allow")

    address: str
    kind: str
    name: str
    index_key: str | int | None = None
    provider: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    sensitive_paths: list[list[str | int]] = Field(default_factory=list)
    dependencies: list[str] = Field(default_factory=list)
    status: Literal["ready", "tainted"] = "ready"
    private: dict[str, Any] = Field(default_factory=dict)


class HistoryRecord(BaseModel):
    """One apply: who, when, which plan, what changed, rollouts and evals."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    when: str = Field(default_factory=now_iso)
    who: str = ""
    operation: str = "apply"
    plan_digest: str | None = None
    changes: list[dict[str, Any]] = Field(default_factory=list)
    rollouts: list[dict[str, Any]] = Field(default_factory=list)
    eval_results: list[dict[str, Any]] = Field(default_factory=list)
    # each soft-mandatory policy overridden: policy, addresses (none for a whole-plan policy), message, who, when
    policy_overrides: list[dict[str, Any]] = Field(default_factory=list)
    outcome: Literal["succeeded", "failed", "partial", "in_progress"] = "succeeded"


class Intent(BaseModel):
    """A provider call that was about to start, written to the journal first.

    An intent with no matching ``done`` record means the process died between
    asking the provider to act and recording the result: the object may exist
    without being in state. The engine looks for it (``find_orphans`` with
    ``operation_id``) and adopts or discards it, then marks the intent done.
    """

    model_config = ConfigDict(extra="allow")

    operation_id: str
    address: str
    action: IntentAction
    kind: str = ""
    provider: str = ""
    started: str = Field(default_factory=now_iso)


class State(BaseModel):
    """The whole state document."""

    model_config = ConfigDict(extra="allow")

    format_version: str = FORMAT_VERSION
    mlform_version: str = "0.1.0"
    serial: int = 0
    lineage: str = Field(default_factory=lambda: str(uuid.uuid4()))
    resources: list[ResourceState] = Field(default_factory=list)
    outputs: dict[str, Any] = Field(default_factory=dict)
    history: list[HistoryRecord] = Field(default_factory=list)
    # Intents left without an outcome by a crashed apply; kept in the document
    # (not only in the journal) so compaction cannot lose them. Empty and
    # omitted from the file in the normal case.
    pending_operations: list[Intent] = Field(default_factory=list)
    # address -> position in ``resources``, for put(): a linear scan per
    # record made an apply of N resources O(N^2). Rebuilt whenever the list
    # was replaced or changed length behind put()/remove().
    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _index_of: tuple[int, int] = PrivateAttr(default=(0, -1))

    def __eq__(self, other: object) -> bool:
        # The position index is a cache, not content.
        if not isinstance(other, State):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__ and \
            self.__pydantic_extra__ == other.__pydantic_extra__

    __hash__ = None  # type: ignore[assignment]

    def _positions(self) -> dict[str, int]:
        key = (id(self.resources), len(self.resources))
        if self._index_of != key:
            self._index = {r.address: i for i, r in enumerate(self.resources)}
            self._index_of = key
        return self._index

    def get(self, address: str) -> ResourceState | None:
        for r in self.resources:
            if r.address == address:
                return r
        return None

    def by_address(self) -> dict[str, ResourceState]:
        return {r.address: r for r in self.resources}

    def put(self, rs: ResourceState) -> None:
        idx = self._positions()
        i = idx.get(rs.address)
        if i is not None and self.resources[i].address == rs.address:
            self.resources[i] = rs
            return
        if i is not None or len(idx) != len(self.resources):  # edited in place: rescan
            for i, r in enumerate(self.resources):
                if r.address == rs.address:
                    self.resources[i] = rs
                    self._index_of = (0, -1)
                    return
        self.resources.append(rs)
        idx[rs.address] = len(self.resources) - 1
        self._index_of = (id(self.resources), len(self.resources))

    def remove(self, address: str) -> ResourceState | None:
        for i, r in enumerate(self.resources):
            if r.address == address:
                return self.resources.pop(i)
        return None

    def put_history(self, record: HistoryRecord) -> None:
        """Add ``record``, or replace the one with the same ``id``.

        An apply writes its record as ``in_progress`` first and again with the
        outcome, so a crash still leaves a trail of what was attempted.
        """
        for i, h in enumerate(self.history):
            if h.id == record.id:
                self.history[i] = record
                return
        self.history.append(record)
