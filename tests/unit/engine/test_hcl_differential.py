"""The fast parser and python-hcl2's agree, and their positions point at the source text.

Over every ``*.mlf.hcl`` in the repository and over generated configurations
that use the constructs of the conformance corpus (comments between labels,
Unicode names, namespaced calls, nested unary operators, strip markers,
``<<-`` heredocs with templates, escapes good and bad, line breaks inside and
outside brackets): whatever the fast parser accepts, python-hcl2's path
accepts with the same tree and positions; what python-hcl2 rejects, the fast
parser gives up on; ``parse_text`` never fails with anything but a
diagnostic. In every accepted tree, each name, call and template directive
starts where the source text has it, heredoc templates included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.load import ast as A
from mlform.engine.load import fastparse
from mlform.engine.load.astcodec import dump
from mlform.engine.load.hcl import parse_text, parse_text_lark

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = sorted(p for p in ROOT.rglob("*.mlf.hcl") if ".mlform" not in p.parts and ".git" not in p.parts)


def _nodes(f: A.File) -> list[A.Expr]:
    out: list[A.Expr] = []

    def body(b: A.Body) -> None:
        for a in b.attributes.values():
            walk(a.expr)
        for blk in b.blocks:
            body(blk.body)

    def walk(e: A.Expr) -> None:
        out.append(e)
        for c in e.children():
            walk(c)

    body(f.body)
    return out


def check_positions(text: str, f: A.File) -> None:
    """Each Variable, Call and template directive starts at its own text."""
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    for e in _nodes(f):
        if isinstance(e, A.Variable):
            want = e.name
        elif isinstance(e, A.Call):
            want = e.name + "("
        elif isinstance(e, (A.TemplateIf, A.TemplateFor)):
            want = "%{"
        else:
            continue
        at = lines[e.rng.start.line - 1][e.rng.start.col - 1:]
        assert at.startswith(want), f"{type(e).__name__} {want!r} is placed at {e.rng}, where the text is {at!r}"


def check_agree(text: str) -> None:
    try:
        lark: Any = parse_text_lark(text, "main.mlf.hcl")
        err: Exception | None = None
    except DiagnosticsError as exc:
        lark, err = None, exc
    try:
        fast: Any = fastparse.parse(text, "main.mlf.hcl")
    except fastparse.Fallback:
        fast = None
    if fast is not None:
        assert err is None, f"the fast parser accepts text python-hcl2 rejects ({err}):\n{text}"
        assert dump(fast) == dump(lark), f"trees differ for:\n{text}"
    if lark is not None:
        check_positions(text, lark)
    try:
        parse_text(text, "main.mlf.hcl")
    except DiagnosticsError:
        pass


@pytest.mark.parametrize("path", CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_repository_configs(path: Path) -> None:
    check_agree(path.read_text(encoding="utf-8"))


def test_there_are_repository_configs() -> None:
    assert len(CONFIGS) > 50


NAMES = st.sampled_from(["a", "b_1", "x-y", "π", "név", "_u"])
BLANK = st.sampled_from([" ", "  ", " /* c */ ", "\t"])
BREAK = st.sampled_from(["", "\n  ", " # c\n  "])
STRING_TEXT = st.sampled_from(["a", " ", "é", "\\n", '\\"', "\\u00e9", "\\U0001F600", "$${x}", "%%{y}",
                               "\\q", "\\u12", "\\uD800", "\\U00300000", "\\Ub2705550"])


def _exprs() -> st.SearchStrategy[str]:
    leaf = st.one_of(
        NAMES, st.sampled_from(["1", "2.5", "true", "null"]),
        st.lists(STRING_TEXT, max_size=3).map(lambda xs: '"' + "".join(xs) + '"'),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "&&", "=="]), BREAK, inner).map(lambda t: f"{t[0]} {t[1]}{t[2]}{t[3]}"),
            st.tuples(inner, BREAK, inner).map(lambda t: f"({t[0]} +{t[1]}{t[2]})"),
            st.tuples(st.sampled_from(["!", "-", "!!", "- -", "-!"]), inner).map(lambda t: f"{t[0]}{t[1]}"),
            st.tuples(st.sampled_from(["core::upper", "provider::p::f", "lower"]), inner).map(
                lambda t: f"{t[0]}({t[1]})"),
            st.tuples(inner, inner, BREAK).map(lambda t: f"{{ for k, v in {t[0]} : k{t[2]}=> {t[1]} }}"),
            st.tuples(inner, st.sampled_from(["~", ""]), st.sampled_from(["~", ""])).map(
                lambda t: f'"p ${{{t[1]} {t[0]} {t[2]}}} s"'),
            st.tuples(NAMES, inner).map(lambda t: f'"%{{ if {t[0]} ~}} x %{{~ endif }}${{{t[1]}}}"'),
            st.tuples(st.sampled_from(["", "-"]), st.sampled_from(["", "    ", "\t"]), NAMES, inner).map(
                lambda t: f"<<{t[0]}EOT\n{t[1]}l ${{{t[2]}}}\n{t[1]}%{{ if {t[3]} }}y%{{ endif }}\n{t[1]}EOT\n"),
            st.lists(st.tuples(NAMES, inner), max_size=3).map(
                lambda kv: "{" + ", ".join(f"{k} = {v}" for k, v in kv) + "}"),
            st.tuples(inner, BREAK, inner).map(lambda t: f"{{\n    a = {t[0]}{t[1]}, b = {t[2]}\n  }}"),
        )

    return st.recursive(leaf, extend, max_leaves=6)


@st.composite
def _configs(draw: st.DrawFn) -> str:
    out = ["\ufeff"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(1, 3))):
        sep = draw(st.sampled_from(["\n", "\n", " "]))  # " ": two items on a line, an error
        if draw(st.booleans()):
            out.append(f"{draw(NAMES)} = {draw(_exprs())}{sep}")
        else:
            inner = "".join(f"  {draw(NAMES)} = {draw(_exprs())}\n" for _ in range(draw(st.integers(0, 2))))
            label = draw(st.sampled_from(['"l"', '"l_${x}"', "l", '"é\\u00e9"']))
            out.append(f"{draw(NAMES)}{draw(BLANK)}{label}{draw(BLANK)}{{\n{inner}}}{sep}")
    return "".join(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_configs())
def test_generated_configs(text: str) -> None:
    check_agree(text)
