"""A failure of one instance says which instance, under its block's location (review item 7)."""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.protocol import ApplyChangeResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

endpoint "e" {
  count    = 4
  provider = provider.testing
  model    = model.m
}
'''


def test_a_failed_instance_is_named_under_the_block_location(tmp_project: Project) -> None:
    tmp_project.write("m.onnx", "weights")
    tmp_project.write("main.mlf.hcl", CONFIG)

    def fail_third(req: Any, default: Any) -> Any:
        if req.address == "endpoint.e[3]":
            resp = ApplyChangeResponse(new_state=None)
            resp.diagnostics.error("Quota exceeded", "No capacity left.")
            return resp
        return default(req)

    TestProvider.hooks["apply_change"] = fail_third
    r = tmp_project.run("apply", "--auto-approve")
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.output) if x.summary.startswith("Quota exceeded")]
    assert d.location is not None and d.location.startswith("main.mlf.hcl:8:"), r
    assert d.address == "endpoint.e[3]", r
    # The "with" line comes under the echoed source line, before the detail.
    text = r.output
    assert text.index("  on main.mlf.hcl:8:") < text.index("  with endpoint.e[3]") < text.index("No capacity left.")
