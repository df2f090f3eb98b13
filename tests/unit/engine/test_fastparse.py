"""The hand-written HCL parser builds exactly the AST python-hcl2's path builds.

``fastparse.parse`` either returns the same file ``hcl.parse_text_lark``
returns - every node, value and source range compared - or gives up
(``Fallback``) so that python-hcl2 parses the file and reports its
diagnostics. It must never accept text python-hcl2 rejects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.load import fastparse
from mlform.engine.load.astcodec import dump
from mlform.engine.load.hcl import parse_text, parse_text_lark

ROOT = Path(__file__).resolve().parents[3]


def _config_files() -> list[Path]:
    out: list[Path] = []
    for top in ("tests", "examples"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and ".mlform" not in p.parts and p.name.endswith((".hcl", ".tf")):
                out.append(p)
    return out


def _lark(text: str) -> tuple[Any, Exception | None]:
    try:
        return dump(parse_text_lark(text, "main.mlf.hcl")), None
    except Exception as exc:  # noqa: BLE001 - a syntax error or python-hcl2's own failure
        return None, exc


def _fast(text: str) -> Any:
    """The fast parser's dump, or None when it falls back."""
    try:
        return dump(fastparse.parse(text, "main.mlf.hcl"))
    except fastparse.Fallback:
        return None


def check_same(text: str) -> bool:
    """Assert agreement; True when the fast parser handled the text itself."""
    want, err = _lark(text)
    got = _fast(text)
    if got is None:
        return False
    assert err is None, f"fast parser accepted text python-hcl2 rejects ({err!r}):\n{text}"
    assert got == want, f"ASTs differ for:\n{text}"
    return True


FILES = _config_files()


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_every_repository_config_parses_the_same(path: Path) -> None:
    check_same(path.read_text(encoding="utf-8"))


def test_the_fast_parser_handles_the_valid_repository_configs() -> None:
    valid = [p for p in FILES if _lark(p.read_text(encoding="utf-8"))[1] is None]
    handled = [p for p in valid if _fast(p.read_text(encoding="utf-8")) is not None]
    assert len(valid) > 50
    missed = sorted(str(p.relative_to(ROOT)) for p in set(valid) - set(handled))
    assert len(handled) >= 0.9 * len(valid), missed


SNIPPETS = [
    # structure, comments, blocks
    'a = 1\n',
    'a = 1',
    '',
    '\n\n# only a comment\n',
    '# c\na = 1 # trailing\n// other\nb = 2 /* inline */\n/* multi\nline */\n',
    'block {}\n',
    'block "x" "y" {\n}\n',
    'block x y {\n  inner {\n    a = 1\n  }\n}\n',
    'block "x"\n{\n  a = 1\n}\n',
    'b { a = 1 }\n',
    'b { a = 1 c = 2 }\n',
    'for_each = 1\nin = 2\ntrue = 3\nif {}\n',
    'b "a\\"b" "${x}" {}\n',
    'b "$${x}y" {}\n',
    'a = 1\na = 2\n',
    'a = 1\r\nb = "x"\r\n',
    '  \t a   =   1   \n',
    'a = 1\n\n\n\n',
    # literals
    'a = -5\nb = -55\nc = - 5\nd = 1.5\ne = -1.5\nf = 1e3\ng = 1.5E-2\nh = 007\n',
    'a = true\nb = false\nc = null\nd = true-x\n',
    'a = 1-2\nb = a-b\nc = a - b\nd = a -1\ne = 1 -1\n',
    # strings and templates
    'a = "hello"\nb = ""\nc = "${x}"\nd = "a${x}b"\ne = "a\\nb\\t\\"c\\u00e9\\\\"\n',
    'a = "$${x} and %%{y} ${z}"\n',
    'a = "$ and % and $x and %x"\n',
    'a = "unicode: héllo ✓ 日本"\nb = "${var.é}"\n',
    'a = "%{ if x }yes%{ else }no%{ endif }"\n',
    'a = "%{if x}yes%{endif}"\n',
    'a = "x %{~ if c ~} y %{~ endif ~} z"\n',
    'a = "%{ for v in xs }${v},%{ endfor }"\n',
    'a = "%{ for k, v in m }${k}=${v}%{ endfor }"\n',
    'a = "%{ if a }%{ for x in y }${x}%{ endfor }%{ else }n%{ endif }"\n',
    'a = "%{ if a }x%{ endfor }"\n',
    'a = "%{ else }"\n',
    'a = "%{ if a }x"\n',
    'a = "${ "nested ${x}" }"\n',
    'a = "${~x}"\n',
    'a = "${x + 1 }"\n',
    'a = "unterminated\n',
    'a = "two\nlines"\n',
    # heredocs
    'a = <<EOT\nhello\nworld\nEOT\n',
    'a = <<-EOT\n    indented\n      more\n    EOT\n',
    'a = <<EOT\nEOT\n',
    'a = <<EOT\nvalue ${x}\nEOT\n',
    'a = <<-EOT\n  %{ for i in xs }${i}\n  %{ endfor }\n  EOT\nb = 2\n',
    'a = [<<EOT\nx\nEOT\n, 2]\n',
    # operators and precedence
    'a = 1 + 2 * 3 - 4 / 5 % 6\n',
    'a = x || y && z == w != v < u > t <= s >= r\n',
    'a = !x && -y\nb = -x.y[0]\nc = !(a || b)\n',
    'a = (1 + 2) * 3\nb = ((x))\nc = (\n  x\n)\n',
    'a = 1 +\n  2\nb = 3\n',
    'a = x\n  + 2\n',
    'a = x\n  ? 1\n  : 2\n',
    'a = b + c\n\n\nd = 1\n',
    'a = b + c # why\nd = 1\n',
    'a = x > 1 ? "big" : x < 0 ? "neg" : "small"\n',
    'a = c ? a + b : d * e\nf = 1\n',
    'a = c ?\n  1 :\n  2\n',
    'a = --1\nb = - -5\nc = !!x\n',
    'a = x == -1\n',
    'a = 1 +\n',
    'a = 1 + + 2\n',
    # collections, calls, access
    'a = [1, 2, 3]\nb = []\nc = [\n  1,\n  2,\n]\nd = [1,]\n',
    'a = {}\nb = { x = 1, y = 2 }\nc = {\n  x = 1\n  y = 2\n}\nd = { "k" = 1, k2: 2 }\n',
    'a = { for = 1, in = 2, if = 3 }\nb = { (k) = 1 }\nc = { true = 1 }\n',
    'a = { x = 1 y = 2 }\n',
    'a = { x = 1,, }\n',
    'a = f()\nb = f(1)\nc = f(1, 2,)\nd = f(xs...)\ne = f(\n  1,\n  2\n)\n',
    'a = f (1)\nb = upper("x")\nc = provider::ns::fn(1)\n',
    'a = x.y.z\nb = x[0]\nc = x.0\nd = x["k"].y\ne = x [0]\nf = x.true\ng = x.for\n',
    'a = x[*].y\nb = x.*.y\nc = x[*]\nd = x[*].y[0].z\ne = x.*.y.*.z\nf = x[*][0]\n',
    'a = x.1.2\n',
    'a = x.\n',
    # for expressions
    'a = [for x in xs : x]\nb = [for i, x in xs : x * i if x > 0]\n',
    'a = { for k, v in m : k => v }\nb = { for k, v in m : v => k... }\nc = { for x in xs : x => x if x }\n',
    'a = [\n  for x in xs :\n  upper(x)\n  if x != ""\n]\n',
    'a = [for]\nb = [for x xs : x]\n',
    'a = [for x in xs : { name = x }]\n',
    # errors python-hcl2 reports
    'a =\n',
    'a = 1 2\n',
    'block {\n',
    'block "x" {\n  a = [1, 2\n}\n',
    'a = @\n',
    'a = \\"x\\"\n',
    '= 1\n',
    'a.b = 1\n',
    'a = "x" "y"\n',
    'a = x ? y\n',
    'a = f(,)\n',
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_snippets_parse_the_same(text: str) -> None:
    check_same(text)


def test_the_fast_parser_handles_the_common_forms() -> None:
    """Most snippets above are valid HCL the fast path must keep (not fall back on)."""
    handled = sum(check_same(t) for t in SNIPPETS)
    assert handled >= 0.6 * len(SNIPPETS)


# --- generated configurations ----------------------------------------------------

NAMES = st.sampled_from(["a", "b", "var", "local", "x_1", "my-name", "each", "count", "value", "for_each"])
SP = st.sampled_from(["", " ", "  ", "\t"])
NL = st.sampled_from(["\n", "\n  ", " # c\n", " // c\n", " /* c */\n", "\n\n", "\r\n"])


def _exprs() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.integers(-1000, 1000).map(str),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).map(lambda f: f"{f:.3f}"),
        st.sampled_from(["true", "false", "null"]),
        NAMES,
        st.text(st.sampled_from(list("ab $%{}\\n\"é~-")), max_size=8).map(
            lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        op = st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">", "<=", ">=", "&&", "||"])
        return st.one_of(
            st.tuples(inner, SP, op, st.sampled_from(["", " ", "\n  "]), inner).map("".join),
            st.tuples(st.sampled_from(["-", "!"]), SP, inner).map(lambda t: t[0] + t[1] + f"({t[2]})"),
            inner.map(lambda e: f"({e})"),
            st.tuples(inner, inner, inner).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.lists(st.tuples(NAMES, inner), max_size=3).map(
                lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}"),
            st.tuples(NAMES, st.lists(inner, max_size=3)).map(lambda t: f"{t[0]}({', '.join(t[1])})"),
            st.tuples(NAMES, NAMES).map(lambda t: f"{t[0]}.{t[1]}"),
            st.tuples(NAMES, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            st.tuples(NAMES, NAMES, st.sampled_from(["[*]", ".*"])).map(lambda t: f"{t[0]}{t[2]}.{t[1]}"),
            st.tuples(inner, inner).map(lambda t: f"[for v in {t[0]} : {t[1]} if v]"),
            st.tuples(inner, inner).map(lambda t: f"{{ for k, v in {t[0]} : k => {t[1]}... }}"),
            st.tuples(inner, inner).map(lambda t: f'"x${{{t[0]}}}%{{ if {t[1]} }}y%{{ else }}z%{{ endif }}"'),
            inner.map(lambda e: f'"%{{ for v in {e} ~}}${{v}} %{{~ endfor }}"'),
        )

    return st.recursive(leaf, extend, max_leaves=8)


@st.composite
def _configs(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            out.append(f"{draw(NAMES)}{draw(SP)}={draw(SP)}{draw(_exprs())}{draw(NL)}")
        else:
            inner = "".join(f"  {draw(NAMES)} = {draw(_exprs())}{draw(NL)}" for _ in range(draw(st.integers(0, 3))))
            out.append(f'{draw(NAMES)} "{draw(NAMES)}" {{{draw(NL)}{inner}}}{draw(NL)}')
    return "".join(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_generated_configs_parse_the_same(text: str) -> None:
    check_same(text)


# Token soup: mostly invalid text. The fast parser must reject (fall back on)
# everything python-hcl2 rejects, and agree on whatever both accept.
TOKENS = st.sampled_from([
    "a", "b", "x-1", "in", "for", "if", "else", "true", "null", "1", "22", "-", "-22", "1.5", "-1.5", "1e3",
    " ", "  ", "\n", "\n  ", "# c\n", "// c\n", "/* c */", "=", "==", "=>", ":", "::", "?", ",", ".", "...",
    ".*", "[*]", "[", "]", "{", "}", "(", ")", "+", "*", "/", "%", "!", "!=", "<", "<=", ">", "&&", "||", "~",
    '"', '"s"', '"${', '"%{ if ', "%{", "${", "$${", "}\"", "<<EOT\nz\nEOT\n", "<<-E\n  z\n  E\n", "\\",
    "é", "\t", "\r\n",
])


@st.composite
def _soups(draw: st.DrawFn) -> str:
    head = draw(st.sampled_from(["a = ", 'b "l" {\n  a = ', "a = [", "a = {", "a = f(", 'a = "${']))
    tail = draw(st.sampled_from(["\n", "\n}\n", "]\n", "}\n", ")\n", '}"\n']))
    return head + "".join(draw(st.lists(TOKENS, max_size=8))) + tail


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_soups())
def test_token_soup_parses_the_same_or_falls_back(text: str) -> None:
    check_same(text)


# --- the public entry point ---------------------------------------------------------

def test_parse_text_reports_python_hcl2_diagnostics() -> None:
    with pytest.raises(DiagnosticsError) as fast_path:
        parse_text('block "x" {\n  a = [1, 2\n}\n', "main.mlf.hcl")
    with pytest.raises(DiagnosticsError) as lark_path:
        parse_text_lark('block "x" {\n  a = [1, 2\n}\n', "main.mlf.hcl")
    assert [str(d) for d in fast_path.value.diagnostics] == [str(d) for d in lark_path.value.diagnostics]


def test_duplicate_arguments_keep_their_diagnostic() -> None:
    with pytest.raises(DiagnosticsError) as exc:
        parse_text("a = 1\na = 2\n", "main.mlf.hcl")
    (d,) = exc.value.diagnostics
    assert d.summary == 'Duplicate argument "a"' and str(d.range) == "main.mlf.hcl:2:1"
