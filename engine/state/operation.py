"""One provider call in flight, and the IDs that tag them."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .model import Intent, ResourceState

if TYPE_CHECKING:
    from .manager import StateManager

__all__ = ["Operation", "new_operation_id"]


def new_operation_id() -> str:
    """A fresh ID for one provider call (also passed to the provider as a tag)."""
    return uuid.uuid4().hex


class Operation:
    """One provider call in flight, from :meth:`StateManager.operation`."""

    def __init__(self, manager: StateManager, intent: Intent) -> None:
        self._manager = manager
        self.intent = intent
        self.finished = False

    @property
    def id(self) -> str:
        return self.intent.operation_id

    def put(self, resource: ResourceState) -> None:
        """Record the resource's new state and close the intent in one write."""
        self._manager.record_put(resource, done=self.id)
        self.finished = True

    def remove(self) -> None:
        """Record that the resource is gone and close the intent in one write."""
        self._manager.record_remove(self.intent.address, done=self.id)
        self.finished = True
