"""The parse cache's encoding (astcodec) keeps every node and position, and its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlform.engine.load import astcodec, project
from mlform.engine.load.astcodec import dump
from mlform.engine.load.hcl import parse_text_lark
from mlform.engine.load.project import load_project

ROOT = Path(__file__).resolve().parents[3]
VALID = []
for _p in sorted((ROOT / "examples").rglob("*.mlf.hcl")) + sorted((ROOT / "tests" / "golden").rglob("*.mlf.hcl")):
    VALID.append(_p)


@pytest.mark.parametrize("path", VALID, ids=[str(p.relative_to(ROOT)) for p in VALID])
def test_a_decoded_file_is_the_parsed_file(path: Path) -> None:
    f = parse_text_lark(path.read_text(encoding="utf-8"), str(path))
    data = astcodec.encode(f)
    assert data is not None
    g = astcodec.decode(data)
    assert dump(g) == dump(f)
    assert type(g.body) is type(f.body) and g.filename == f.filename and g.digest == f.digest


def test_every_kind_of_node_survives() -> None:
    text = ('a = [for i, x in xs : x.y[0] if !x]\nb = { for k, v in m : k => v... }\nc = x[*].y\nd = "${a}%{ if b }'
            'c%{ else }d%{ endif }%{ for v in w }${v}%{ endfor }"\ne = c ? -1.5 : f(xs...)\nf = null\n'
            'g = a.*.b\nh = [1, { k = 2 }]\nblk "l" {\n  h = true || false\n}\n')
    f = parse_text_lark(text, "main.mlf.hcl")
    g = astcodec.decode(astcodec.encode(f) or b"")
    assert dump(g) == dump(f)
    attrs = list(g.body.attributes.values()) + [a for b in g.body.blocks for a in b.body.attributes.values()]
    kinds = {type(n).__name__ for a in attrs for n in a.expr.walk()}
    assert {"ForExpr", "Splat", "SplatItem", "Template", "TemplateIf", "TemplateFor", "Conditional", "Unary",
            "Call", "Index", "GetAttr", "Binary", "ObjectExpr", "TupleExpr", "Literal", "Variable"} <= kinds


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x00\x01\x02", astcodec.marshal.dumps((999, "f", "d", ()))])
def test_anything_else_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        astcodec.decode(data)


def test_new_loader_code_does_not_read_old_entries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "main.mlf.hcl").write_text('prompt "p" {\n  template = "x"\n}\n')
    load_project(tmp_path)
    entries = set((tmp_path / ".mlform" / "cache" / "parse").iterdir())
    assert len(entries) == 1

    monkeypatch.setattr(project, "_stamp", "another mlform")
    load_project(tmp_path)

    assert len(set((tmp_path / ".mlform" / "cache" / "parse").iterdir()) - entries) == 1
