"""The loader: HCL text to a positioned AST (positions, heredocs, templates, escapes, errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlform.engine.diagnostics import DiagnosticsError, Pos
from mlform.engine.expr.eval import Scope
from mlform.engine.expr.scope import evaluate
from mlform.engine.load import ast as A
from mlform.engine.load.hcl import parse_expression, parse_template, parse_text, unescape
from mlform.engine.load.project import load_project


def _attrs(text: str) -> dict[str, A.Attribute]:
    f = parse_text(text, "main.mlf.hcl")
    return f.body.blocks[0].body.attributes


def _value(text: str, names: dict[str, Any] | None = None) -> dict[str, Any]:
    return {n: evaluate(a.expr, Scope(names or {}, Path("."))) for n, a in _attrs(text).items()}


# --- positions -------------------------------------------------------------------

SRC = '''# a comment
model "sentiment" {
  source  = "./models/s.onnx"
  version = "1.0"

  lifecycle {
    prevent_destroy = true
  }
}

endpoint "api" {
  model = model.sentiment
}
'''


def test_block_header_range_covers_type_and_labels() -> None:
    f = parse_text(SRC, "main.mlf.hcl")
    model, endpoint = f.body.blocks
    assert (model.type, model.labels) == ("model", ["sentiment"])
    assert str(model.rng) == "main.mlf.hcl:2:1"
    assert model.rng.end == Pos(2, 18)  # just past "sentiment"
    assert str(model.label_rngs[0]) == "main.mlf.hcl:2:7"
    assert str(endpoint.rng) == "main.mlf.hcl:11:1"


def test_attribute_name_and_value_ranges() -> None:
    a = parse_text(SRC, "main.mlf.hcl").body.blocks[0].body.attributes
    assert str(a["source"].name_rng) == "main.mlf.hcl:3:3"
    assert str(a["source"].expr.rng) == "main.mlf.hcl:3:13"
    assert a["source"].expr.rng.end == Pos(3, 30)
    assert str(a["version"].expr.rng) == "main.mlf.hcl:4:13"


def test_nested_block_and_reference_positions() -> None:
    f = parse_text(SRC, "main.mlf.hcl")
    lifecycle = f.body.blocks[0].body.blocks[0]
    assert str(lifecycle.rng) == "main.mlf.hcl:6:3"
    assert str(lifecycle.body.attributes["prevent_destroy"].name_rng) == "main.mlf.hcl:7:5"
    refs = A.references(f.body.blocks[1].body.attributes["model"].expr)
    assert [(t, str(r)) for t, r in refs] == [(("model", "sentiment"), "main.mlf.hcl:12:11")]


def test_reference_positions_inside_a_template() -> None:
    a = _attrs('locals {\n  x = "env-${var.env}/${local.team}"\n}\n')
    refs = [(t, str(r)) for t, r in A.references(a["x"].expr)]
    assert refs == [(("var", "env"), "main.mlf.hcl:2:14"), (("local", "team"), "main.mlf.hcl:2:25")]


def test_parse_expression_maps_positions_to_the_file() -> None:
    e = parse_expression("var.a + local.b", "vars.hcl", line=7, col=5)
    assert isinstance(e, A.Binary)
    assert str(e.left.rng) == "vars.hcl:7:5"
    assert str(e.right.rng) == "vars.hcl:7:13"


def test_binary_expression_range_stops_at_its_right_operand() -> None:
    a = _attrs("locals {\n  ok = 1 + 2 <= 5\n  next = 1\n}\n")
    assert a["ok"].expr.rng.start == Pos(2, 8)
    assert a["ok"].expr.rng.end == Pos(2, 18)


def test_for_expression_variables_are_not_references() -> None:
    a = _attrs('locals {\n  x = [for k, v in var.m : "${k}=${v}" if v != local.skip]\n}\n')
    assert [t for t, _ in A.references(a["x"].expr)] == [("var", "m"), ("local", "skip")]


# --- escapes -------------------------------------------------------------------------

def test_quoted_string_escapes() -> None:
    v = _value('locals {\n  s = "tab\\there\\nnew \\"quoted\\" back\\\\slash \\u00e9\\U0001F600"\n}\n')
    assert v["s"] == 'tab\there\nnew "quoted" back\\slash \u00e9\U0001F600'


def test_template_escapes_keep_literal_sequences() -> None:
    v = _value('locals {\n  s = "$${not.a.ref} and %%{not a directive}"\n}\n')
    assert v["s"] == "${not.a.ref} and %{not a directive}"


@pytest.mark.parametrize("raw, text", [
    ("plain", "plain"),
    ("a\\nb", "a\nb"),
    ('\\"', '"'),
    ("\\u0041", "A"),
    ("$${x}", "${x}"),
])
def test_unescape(raw: str, text: str) -> None:
    assert unescape(raw) == text


# --- heredocs --------------------------------------------------------------------------

def test_heredoc_keeps_lines_and_interpolates() -> None:
    v = _value('locals {\n  doc = <<EOT\nHello ${var.name}\n  indented\nEOT\n}\n', {"var": {"name": "ann"}})
    assert v["doc"] == "Hello ann\n  indented\n"


def test_indented_heredoc_trims_the_common_indent() -> None:
    text = 'locals {\n  doc = <<-EOT\n    first\n      second\n    EOT\n}\n'
    assert _value(text)["doc"] == "first\n  second\n"


def test_heredoc_reference_points_at_its_line() -> None:
    a = _attrs('locals {\n  doc = <<EOT\nline one\nvalue: ${var.missing}\nEOT\n}\n')
    (trav, rng), = A.references(a["doc"].expr)
    assert trav == ("var", "missing")
    assert (rng.start.line, rng.start.col) == (4, 10)


# --- templates with directives ------------------------------------------------------------

def test_if_directive_with_else() -> None:
    text = 'locals {\n  s = "%{ if var.on }yes%{ else }no%{ endif }"\n}\n'
    assert _value(text, {"var": {"on": True}})["s"] == "yes"
    assert _value(text, {"var": {"on": False}})["s"] == "no"


def test_for_directive_with_key() -> None:
    text = 'locals {\n  s = "%{ for i, x in var.xs }${i}=${x};%{ endfor }"\n}\n'
    assert _value(text, {"var": {"xs": ["a", "b"]}})["s"] == "0=a;1=b;"


def test_nested_directives() -> None:
    text = 'locals {\n  s = "%{ for x in var.xs }%{ if x != \\"b\\" }${x}%{ endif }%{ endfor }"\n}\n'
    assert _value(text, {"var": {"xs": ["a", "b", "c"]}})["s"] == "ac"


def test_strip_markers_remove_adjacent_whitespace() -> None:
    assert _value('locals {\n  s = "a %{~ if true ~} b %{~ endif ~} c"\n}\n')["s"] == "abc"
    doc = 'locals {\n  s = <<EOT\nitems:\n%{ for x in ["p", "q"] ~}\n- ${x}\n%{ endfor ~}\nend\nEOT\n}\n'
    assert _value(doc)["s"] == "items:\n- p\n- q\nend\n"


def test_template_file_body_with_directives() -> None:
    e = parse_template("Hi ${name}!%{ if vip } Welcome back.%{ endif }", "greeting.tpl")
    assert evaluate(e, Scope({"name": "Ann", "vip": True})) == "Hi Ann! Welcome back."


def test_single_interpolation_keeps_its_type() -> None:
    assert _value('locals {\n  n = "${1 + 2}"\n}\n')["n"] == 3


def test_else_without_if_is_an_error() -> None:
    with pytest.raises(DiagnosticsError, match=r"Unexpected %\{ else \} directive") as ei:
        parse_text('locals {\n  s = "a %{ else } b"\n}\n', "main.mlf.hcl")
    assert str(ei.value.diagnostics.errors[0].range) == "main.mlf.hcl:2:10"


def test_unterminated_directive_in_a_template() -> None:
    with pytest.raises(DiagnosticsError, match="Unterminated template directive"):
        parse_template("%{ if x }never closed", "t.tpl")


# --- syntax errors -----------------------------------------------------------------------------

def test_unclosed_block_points_at_its_brace() -> None:
    with pytest.raises(DiagnosticsError, match="Unclosed configuration block") as ei:
        parse_text('model "m" {\n  source = "a"\n', "main.mlf.hcl")
    assert str(ei.value.diagnostics.errors[0].range) == "main.mlf.hcl:1:11"


def test_unclosed_bracket_ignores_brackets_in_strings_and_comments() -> None:
    text = 'locals {\n  s = "{[("  # {\n  xs = [1,\n'
    with pytest.raises(DiagnosticsError, match="Unclosed bracket") as ei:
        parse_text(text, "main.mlf.hcl")
    d = ei.value.diagnostics.errors[0]
    assert str(d.range) == "main.mlf.hcl:3:8"
    assert 'no closing "]"' in d.detail


def test_error_at_end_of_file_points_inside_the_file() -> None:
    with pytest.raises(DiagnosticsError, match="Invalid HCL syntax") as ei:
        parse_text("locals {\n}\nx =", "main.mlf.hcl")
    rng = ei.value.diagnostics.errors[0].range
    assert rng is not None and rng.start.line == 3


def test_duplicate_argument_is_reported_where_it_is_repeated() -> None:
    with pytest.raises(DiagnosticsError, match='Duplicate argument "a"') as ei:
        parse_text("locals {\n  a = 1\n  a = 2\n}\n", "main.mlf.hcl")
    assert str(ei.value.diagnostics.errors[0].range) == "main.mlf.hcl:3:3"


# --- projects ------------------------------------------------------------------------------------

def test_project_files_load_in_name_order_and_all_syntax_errors_are_collected(tmp_path: Path) -> None:
    (tmp_path / "b.mlf.hcl").write_text('prompt "b" {\n  template = "x"\n}\n')
    (tmp_path / "a.mlf.hcl").write_text('prompt "a" {\n  template = "x"\n}\n')
    (tmp_path / "notes.hcl").write_text("not read {")
    proj, diags = load_project(tmp_path, use_cache=False)
    assert not diags
    assert [Path(f.filename).name for f in proj.files] == ["a.mlf.hcl", "b.mlf.hcl"]

    (tmp_path / "a.mlf.hcl").write_text("prompt {\n")
    (tmp_path / "b.mlf.hcl").write_text("x = @\n")
    _, diags = load_project(tmp_path, use_cache=False)
    assert [Path(d.range.filename).name for d in diags if d.range] == ["a.mlf.hcl", "b.mlf.hcl"]


def test_json_configuration_has_the_same_structure(tmp_path: Path) -> None:
    (tmp_path / "main.mlf.json").write_text(
        '{"prompt": {"p": {"template": "Hello ${var.name}", "variables": ["name"]}},'
        ' "variable": {"name": {"default": "x"}}}')
    proj, diags = load_project(tmp_path, use_cache=False)
    assert not diags
    blocks = proj.files[0].body.blocks
    assert [(b.type, b.labels) for b in blocks] == [("prompt", ["p"]), ("variable", ["name"])]
    tmpl = blocks[0].body.attributes["template"].expr
    assert [t for t, _ in A.references(tmpl)] == [("var", "name")]


def test_no_configuration_files(tmp_path: Path) -> None:
    _, diags = load_project(tmp_path, use_cache=False)
    assert [d.summary for d in diags] == ["No configuration files"]
