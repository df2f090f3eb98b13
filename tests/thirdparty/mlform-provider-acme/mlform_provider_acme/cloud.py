"""The Acme "cloud": its control plane, one JSON file.

This is a test provider, so its cloud is make-believe, but honest: every
endpoint the provider creates is an object in
``<project>/.mlform/acme-cloud/endpoints.json``, keyed by the name it serves
under, and the gateway (``gateway.py``, the data plane) routes requests from
what that file says. Nothing else remembers an endpoint: delete the file and
``mlform refresh`` sees the endpoints gone.

An object::

    {"id": "eu-west/sentiment", "address": "endpoint.sentiment", "operation_id": "...",
     "region": "eu-west", "tier": "standard",
     "versions": {"v-1a2b3c4d5e6f": {"path": "/abs/model.onnx", "digest": "sha256:..."}},
     "weights": {"v-1a2b3c4d5e6f": 100},
     "attributes": {...the state the provider last returned...}}

Writes replace the file atomically (a reader never sees half of one).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable

FILE = "endpoints.json"


class Cloud:
    """The endpoints of one project's Acme cloud (``folder`` holds ``endpoints.json``)."""

    _lock = threading.Lock()  # the engine applies resources on a thread pool

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def path(self) -> Path:
        return self.folder / FILE

    def objects(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.path.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def get(self, name: str) -> dict[str, Any] | None:
        return self.objects().get(name)

    def change(self, edit: Callable[[dict[str, dict[str, Any]]], Any]) -> Any:
        """Run ``edit`` on the objects and write them back; returns what ``edit`` returned."""
        with self._lock:
            objs = self.objects()
            out = edit(objs)
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{FILE}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(objs, indent=2, sort_keys=True))
            os.replace(tmp, self.path)
            return out
