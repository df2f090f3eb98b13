"""A delete waits for the deletes of what depended on it, and for nothing else.

Through the CLI with the testing provider: one instance of a counted endpoint is removed while
a new endpoint that reads another instance is created. The new endpoint never used the removed
instance, so the delete must not be held up until the create has finished (they run together:
the create's provider call waits, up to a timeout, for the delete to start).
"""

from __future__ import annotations

import threading
from typing import Any

from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = %(count)d
  provider = provider.testing
  model    = model.m
}
%(reader)s'''

READER = '''
endpoint "f" {
  provider = provider.testing
  model    = model.m
  environment = {
    UPSTREAM = endpoint.e[0].url
  }
}
'''


def test_a_delete_is_not_held_up_by_a_create_that_reads_another_instance(tmp_project: Project) -> None:
    tmp_project.write_files({"m.onnx": "weights", "main.mlf.hcl": CONFIG % {"count": 2, "reader": ""}})
    assert tmp_project.run("apply", "--auto-approve").exit_code == 0
    deleting = threading.Event()
    seen: list[tuple[str, str, bool]] = []

    def hook(req: Any, default: Any) -> Any:
        if req.action == "delete":
            deleting.set()
        elif req.address == "endpoint.f":
            seen.append((req.address, req.action, deleting.wait(timeout=10)))
        return default(req)

    TestProvider.hooks["apply_change"] = hook
    tmp_project.write_files({"main.mlf.hcl": CONFIG % {"count": 1, "reader": READER}})
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 0, r
    assert "1 added, 0 changed, 1 destroyed" in r.stdout, r.stdout
    assert seen == [("endpoint.f", "create", True)], seen  # the delete started while the create was in flight
    addresses = sorted(x["address"] for x in tmp_project.state()["resources"])
    assert addresses == ["endpoint.e[0]", "endpoint.f", "model.m"], addresses
