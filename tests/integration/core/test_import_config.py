"""``import`` configures the provider from its block, as plan and apply do.

A provider whose import needs its settings (a region, a gateway URL) got an
empty configuration before, and failed on its own missing setting instead of
adopting the object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from mlform.engine.config.variables import VarSources
from mlform.engine.core import Core
from mlform.engine.providers.protocol import ImportResourceRequest, ImportResourceResponse
from mlform.engine.providers.registry import register, unregister
from mlform.engine.providers.schema import AttrSpec, BlockSpec, GetSchemaResponse
from mlform.providers.testing import TestProvider


class RegionalProvider(TestProvider):
    """The testing provider, with a required ``region`` its import reads."""

    name = "regional"

    def get_schema(self) -> GetSchemaResponse:
        base = super().get_schema()
        return GetSchemaResponse(kinds=base.kinds, kind_schemas=base.kind_schemas,
                                 provider=BlockSpec(attrs={"region": AttrSpec("string", required=True)}))

    def import_resource(self, req: ImportResourceRequest) -> ImportResourceResponse:
        region = self.config.get("region")
        if not region:
            r = ImportResourceResponse(state=None)
            r.diagnostics.error("No region configured", "The provider block sets region.")
            return r
        return ImportResourceResponse(state={"id": req.id, "region": region, "model": None})


PROJECT = '''variable "region" { type = string }
provider "regional" { region = var.region }
model "m" {
  provider = provider.regional
  source   = "./m.onnx"
}
endpoint "e" {
  provider = provider.regional
  model    = model.m
}
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    register("regional", RegionalProvider)
    (tmp_path / "m.onnx").write_text("m")
    (tmp_path / "main.mlf.hcl").write_text(PROJECT)
    yield tmp_path
    unregister("regional")


def _import(project: Path, sources: VarSources) -> Any:
    c, d = Core.open(project)
    assert c is not None, [x.summary for x in d]
    with c.state.locked("OperationTypeInvalid", 0):
        return c.import_resource("endpoint.e", "ep-123", sources)


def test_import_configures_the_provider_from_its_block_and_variables(project: Path) -> None:
    res = _import(project, VarSources([("var", "region=eu-west-1")]))

    assert not res.diagnostics.has_errors, [d.summary for d in res.diagnostics]
    assert res.resource is not None and res.resource.attributes["region"] == "eu-west-1"


def test_import_without_a_required_variable_says_so(project: Path) -> None:
    res = _import(project, VarSources([]))

    assert res.resource is None
    assert [d.summary for d in res.diagnostics.errors] == ["No value for required variable"]
