"""The parse cache: an unchanged file is never parsed twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from mlform.engine.load import fastparse, hcl
from mlform.engine.load.project import load_project
from tests.fixtures.project import Project

MAIN = 'prompt "p" {\n  template = "Hello ${var.name}"\n}\n\nvariable "name" {\n  default = "x"\n}\n'
OTHER = 'locals {\n  team = "nlp"\n}\n'


@pytest.fixture
def parser_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every text a parser (the fast one or python-hcl2) is asked to parse, in order."""
    calls: list[str] = []

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(text: str, *args: Any, **kwargs: Any) -> Any:
            calls.append(text)
            return real(text, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(hcl, "parse_tree", counting(hcl.parse_tree))  # python-hcl2's parser, mlform's grammar
    monkeypatch.setattr(fastparse, "parse", counting(fastparse.parse))
    return calls


def _write(d: Path) -> None:
    (d / "main.mlf.hcl").write_text(MAIN)
    (d / "other.mlf.hcl").write_text(OTHER)


def test_second_load_does_not_call_the_parser(tmp_path: Path, parser_calls: list[str]) -> None:
    _write(tmp_path)
    first, d1 = load_project(tmp_path)
    assert not d1
    assert len(parser_calls) >= 2  # both files (plus any template parts)
    parser_calls.clear()

    second, d2 = load_project(tmp_path)

    assert not d2
    assert parser_calls == []
    assert second.digest == first.digest
    assert [f.digest for f in second.files] == [f.digest for f in first.files]
    # the cached AST keeps its positions
    attr = second.files[0].body.blocks[0].body.attributes["template"]
    assert str(attr.expr.rng) == str(first.files[0].body.blocks[0].body.attributes["template"].expr.rng)


def test_only_the_changed_file_is_parsed_again(tmp_path: Path, parser_calls: list[str]) -> None:
    _write(tmp_path)
    load_project(tmp_path)
    parser_calls.clear()
    (tmp_path / "other.mlf.hcl").write_text(OTHER.replace("nlp", "vision"))

    load_project(tmp_path)

    assert len(parser_calls) == 1 and "vision" in parser_calls[0]


def test_a_corrupt_cache_entry_is_a_miss(tmp_path: Path, parser_calls: list[str]) -> None:
    _write(tmp_path)
    load_project(tmp_path)
    entries = list((tmp_path / ".mlform" / "cache" / "parse").iterdir())
    assert entries
    for entry in entries:
        entry.write_bytes(b"not a cache entry")
    parser_calls.clear()

    proj, diags = load_project(tmp_path)

    assert not diags and len(proj.files) == 2
    assert len(parser_calls) >= 2


def test_without_the_cache_every_load_parses(tmp_path: Path, parser_calls: list[str]) -> None:
    _write(tmp_path)
    load_project(tmp_path, use_cache=False)
    load_project(tmp_path, use_cache=False)
    assert not (tmp_path / ".mlform").exists()
    assert sum("nlp" in c for c in parser_calls) == 2


def test_a_syntax_error_is_not_cached(tmp_path: Path, parser_calls: list[str]) -> None:
    (tmp_path / "main.mlf.hcl").write_text("prompt {\n")
    load_project(tmp_path)
    load_project(tmp_path)
    # each load: the fast parser gives up, python-hcl2 reports the error
    assert len(parser_calls) == 4


def test_validate_twice_parses_once(tmp_project: Project, parser_calls: list[str]) -> None:
    tmp_project.write("main.mlf.hcl", MAIN)
    assert tmp_project.run("validate").exit_code == 0
    parser_calls.clear()

    r = tmp_project.run("validate")

    assert r.exit_code == 0, r
    assert parser_calls == []
