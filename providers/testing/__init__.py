"""A provider for engine tests, with a hook per protocol method.

It serves ``endpoint`` resources as plain records (no servers). Tests set
hooks to inject failures on demand: a create that fails, a read that says
"gone", a slow apply::

    TestProvider.hooks["apply_change"] = lambda req, default: (_ for _ in ()).throw(...)

Its rollouts go through ``rollout.py``'s driver, hooked the same way
(``rollout.stage``, ``rollout.observe``, ...).

It is registered only while the test suite runs: ``tests/conftest.py``
writes an entry point for it (``mlform.providers`` group) into a temporary
``*.dist-info`` on ``sys.path`` and ``PYTHONPATH``; an installed mlform does
not list it.

Each hook receives the request and the default implementation, and returns
a response. State of "remote objects" lives in a JSON file under the work
dir so that several processes (crash tests) see the same objects.

Hooks are class-level, so they only reach the process that sets them. For
tests that run ``mlform`` as a real process (kill -9, two applies at once)
two environment variables do the same for ``apply_change``:

* ``MLFORM_TESTING_APPLY_DELAY=SECONDS`` - each apply call sleeps that long,
  half before storing the object and half after (so a kill can land between
  the provider's write and the engine's record of it);
* ``MLFORM_TESTING_FAIL_APPLY=ADDR[,ADDR...]`` - apply calls for those
  addresses fail with an error diagnostic, creating nothing;
* ``MLFORM_TESTING_APPLY_WAIT_FOR=PATH`` - each apply call first waits (up
  to 120 s) until PATH exists, so a test can hold an apply, and its lock,
  open for exactly as long as it needs on a machine of any speed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, ClassVar

from mlform.engine.providers.protocol import (
    ApplyChangeRequest, ApplyChangeResponse, FindOrphansRequest, FindOrphansResponse, ImportResourceRequest,
    ImportResourceResponse, ListHardwareResponse, PlanChangeRequest, PlanChangeResponse, ProfileRequest,
    ProfileResponse, ProviderBase, ReadRequest, ReadResponse,
)
from mlform.engine.providers.rollout import RolloutDriver
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.engine.values import UNKNOWN

def _env_list(name: str) -> set[str]:
    return {x.strip() for x in (os.environ.get(name) or "").split(",") if x.strip()}


Hook = Callable[[Any, Callable[[Any], Any]], Any]


class TestProvider(ProviderBase):
    """Records objects in ``.mlform/testing-objects.json``; hooks override any call."""

    __test__ = False  # not a pytest class
    name = "testing"
    kinds = ("endpoint", "model", "prompt", "eval_suite")
    hooks: ClassVar[dict[str, Hook]] = {}
    _lock = threading.Lock()

    def get_schema(self) -> GetSchemaResponse:
        """Endpoints take what local ones take beyond the common schema (``port``, ``environment``)."""
        return GetSchemaResponse(kinds=list(self.kinds), kind_schemas={"endpoint": BlockSpec(attrs={
            "port": AttrSpec("number"), "environment": AttrSpec("map(string)")})})

    def _store(self) -> Path:
        assert self.context is not None
        self.context.work_dir.mkdir(parents=True, exist_ok=True)
        return self.context.work_dir / "testing-objects.json"

    def objects(self) -> dict[str, Any]:
        p = self._store()
        return json.loads(p.read_text()) if p.exists() else {}

    def _save(self, objs: dict[str, Any]) -> None:
        p = self._store()
        tmp = p.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(objs, sort_keys=True))
        os.replace(tmp, p)

    def _hooked(self, name: str, req: Any, default: Callable[[Any], Any]) -> Any:
        hook = self.hooks.get(name)
        return hook(req, default) if hook else default(req)

    def rollouts(self) -> RolloutDriver | None:
        """Its rollout driver (``rollout.py``); a ``rollouts`` hook may return another, or ``None``."""
        from mlform.providers.testing.rollout import TestRollout

        return self._hooked("rollouts", self, TestRollout)  # type: ignore[no-any-return]

    def list_hardware(self) -> ListHardwareResponse:
        """No hardware (it chooses nothing) unless a ``list_hardware`` hook returns some."""
        return self._hooked("list_hardware", self, lambda _: ListHardwareResponse(options=[]))  # type: ignore[no-any-return]

    def profile(self, req: ProfileRequest) -> ProfileResponse:
        """No measurements (the engine asks the local provider) unless a ``profile`` hook returns some."""
        return self._hooked("profile", req, lambda _: ProfileResponse())  # type: ignore[no-any-return]

    def plan_change(self, req: PlanChangeRequest) -> PlanChangeResponse:
        return self._hooked("plan_change", req, self._plan)  # type: ignore[no-any-return]

    def _plan(self, req: PlanChangeRequest) -> PlanChangeResponse:
        if req.config is None:
            return PlanChangeResponse(planned_state=None)
        planned = dict(req.config)
        prior = req.prior_state or {}
        planned["id"] = prior.get("id", UNKNOWN)
        if req.kind == "endpoint":
            planned["url"] = prior.get("url", UNKNOWN)
        return PlanChangeResponse(planned_state=planned, requires_replace=[("zone",)])

    def apply_change(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        return self._hooked("apply_change", req, self._apply)  # type: ignore[no-any-return]

    def _apply(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        if req.address in _env_list("MLFORM_TESTING_FAIL_APPLY"):
            r = ApplyChangeResponse(new_state=None)
            r.diagnostics.error(f"Injected failure for {req.address}",
                                "MLFORM_TESTING_FAIL_APPLY names this address.")
            return r
        gate = os.environ.get("MLFORM_TESTING_APPLY_WAIT_FOR")
        deadline = time.monotonic() + 120
        while gate and not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)
        delay = float(os.environ.get("MLFORM_TESTING_APPLY_DELAY") or 0) / 2
        if delay:
            time.sleep(delay)
        try:
            return self._apply_now(req)
        finally:
            if delay:
                time.sleep(delay)

    def _apply_now(self, req: ApplyChangeRequest) -> ApplyChangeResponse:
        with self._lock:
            objs = self.objects()
            if req.action == "delete":
                objs.pop((req.prior_state or {}).get("id", ""), None)
                self._save(objs)
                return ApplyChangeResponse(new_state=None)
            new = dict(req.planned_state or {})
            if new.get("id") is UNKNOWN or new.get("id") is None:
                new["id"] = f"obj-{req.operation_id[:12]}"
            if new.get("url", None) is UNKNOWN:
                new["url"] = f"http://127.0.0.1:0/{new['id']}"
            for k, v in list(new.items()):
                if v is UNKNOWN:
                    new[k] = None
            objs[new["id"]] = {"address": req.address, "operation_id": req.operation_id, "attributes": new}
            self._save(objs)
            return ApplyChangeResponse(new_state=new)

    def read(self, req: ReadRequest) -> ReadResponse:
        return self._hooked("read", req, self._read)  # type: ignore[no-any-return]

    def _read(self, req: ReadRequest) -> ReadResponse:
        obj = self.objects().get(req.state.get("id", ""))
        return ReadResponse(state=obj["attributes"] if obj else None)

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        obj = self.objects().get(req.id)
        if obj is None:
            r = ImportResourceResponse(state=None)
            r.diagnostics.error("Cannot import non-existent remote object", f'No object with ID "{req.id}".')
            return r
        return ImportResourceResponse(state=obj["attributes"])

    def find_orphans(self, req: FindOrphansRequest) -> FindOrphansResponse:
        for obj in self.objects().values():
            if obj["address"] == req.address and obj["operation_id"] == req.operation_id:
                return FindOrphansResponse(state=obj["attributes"])
        return FindOrphansResponse(state=None)
