"""The expression evaluator: operators, conditionals, for, splat, unknown propagation.

Property tests (hypothesis) check that arithmetic and comparison agree with
Python, that an unknown operand makes the result unknown, and that ``==``
is symmetric.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlform.engine.diagnostics import DiagnosticsError, Pos, SourceRange
from mlform.engine.expr.eval import EvalError, Scope
from mlform.engine.expr.scope import evaluate
from mlform.engine.load import ast as A
from mlform.engine.load.hcl import parse_expression
from mlform.engine.values import UNKNOWN, InstanceMap

R = SourceRange("t.hcl", Pos(1, 1), Pos(1, 1))
PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def ev(src: str, **names: Any) -> Any:
    return evaluate(parse_expression(src, "t.hcl"), Scope(names, Path(".")))


def lit(v: Any) -> A.Expr:
    return A.Literal(v, R)


def binary(op: str, a: Any, b: Any) -> Any:
    return evaluate(A.Binary(op, lit(a), lit(b), R), Scope({}))


# --- operators -------------------------------------------------------------------------

@pytest.mark.parametrize("src, want", [
    ("1 + 2 * 3", 7),
    ("(1 + 2) * 3", 9),
    ("10 / 4", 2.5),
    ("10 / 5", 2),
    ("-7 % 3", -1),  # the sign of the dividend, as in Terraform
    ("2 - -3", 5),
    ("\"3\" + 4", 7),  # numeric strings convert
    ("1 < 2 && 2 <= 2", True),
    ("!(1 > 2) || false", True),
    ("\"a\" == \"a\"", True),
    ("1 == 1.0", True),
    ("\"1\" == 1", False),  # equality does not convert
    ("[1, 2] == [1, 2]", True),
    ("{a = 1} != {a = 2}", True),
    ("true ? \"y\" : \"n\"", "y"),
    ("1 > 2 ? \"y\" : \"n\"", "n"),
])
def test_operators(src: str, want: Any) -> None:
    got = ev(src)
    assert got == want and type(got) is type(want)


def test_division_by_zero_is_a_positioned_error() -> None:
    with pytest.raises(EvalError, match="Division by zero") as ei:
        ev("1 / (2 - 2)")
    (d,) = ei.value.diagnostics.errors
    assert (d.summary, d.detail) == ("Division by zero", "The right-hand operand is zero.")
    assert str(d.range).startswith("t.hcl:1:6")  # at the zero operand, inside the parentheses


def test_operand_that_is_not_a_number() -> None:
    with pytest.raises(EvalError, match="Invalid operand"):
        ev('"abc" * 2')


def test_condition_must_be_a_bool() -> None:
    with pytest.raises(EvalError, match="Invalid operand") as ei:
        ev('"yes" ? 1 : 2')
    assert "Expected a bool" in ei.value.diagnostics.errors[0].detail


# --- for, splat, index -------------------------------------------------------------------

def test_list_comprehension_with_filter() -> None:
    assert ev('[for x in xs : upper(x) if x != "b"]', xs=["a", "b", "c"]) == ["A", "C"]


def test_object_comprehension_and_grouping() -> None:
    assert ev("{for k, v in m : v => k}", m={"a": "x", "b": "y"}) == {"x": "a", "y": "b"}
    assert ev("{for s in xs : substr(s, 0, 1) => s...}", xs=["ab", "ac", "bd"]) == \
        {"a": ["ab", "ac"], "b": ["bd"]}


def test_duplicate_key_in_object_comprehension() -> None:
    with pytest.raises(EvalError, match="Duplicate object key"):
        ev("{for s in xs : 1 => s}", xs=["a", "b"])


def test_for_over_a_map_is_in_key_order() -> None:
    assert ev("[for k, v in m : k]", m={"b": 1, "a": 2}) == ["a", "b"]


def test_splat_over_list_and_for_each_instances() -> None:
    assert ev("eps[*].url", eps=[{"url": "u1"}, {"url": "u2"}]) == ["u1", "u2"]
    assert ev("eps.*.url", eps=[{"url": "u1"}]) == ["u1"]
    instances = InstanceMap({"us": {"url": "b"}, "eu": {"url": "a"}})
    assert ev("eps[*].url", eps=instances) == ["a", "b"]  # over the instances, by key
    assert ev("one[*].url", one={"url": "x"}) == ["x"]  # a single value splats as a list of one
    assert ev("none[*].url", none=None) == []


@pytest.mark.parametrize("src, names, summary, detail", [
    ("xs[2]", {"xs": [1, 2]}, "Invalid index", "Index 2 is out of range for a list of 2 elements"),
    ('m["lage"]', {"m": {"large": 1}}, "Invalid index", 'key "lage" does not exist. Did you mean "large"?'),
    ("e.urll", {"e": {"url": 1}}, "Unsupported attribute", 'no attribute "urll". Did you mean "url"?'),
    ("xs.url", {"xs": [{"url": 1}]}, "Unsupported attribute", "Use an index (x[0].url) or a splat (x[*].url)"),
    ("n.a", {"n": None}, "Attempt to get attribute from null value", "This value is null"),
])
def test_index_and_attribute_errors_say_what_exists(src: str, names: dict[str, Any], summary: str,
                                                    detail: str) -> None:
    with pytest.raises(EvalError, match=summary) as ei:
        ev(src, **names)
    assert detail in ei.value.diagnostics.errors[0].detail


def test_try_and_can() -> None:
    assert ev('try(m.missing, "fallback")', m={}) == "fallback"
    assert ev("can(m.missing)", m={}) is False
    assert ev("can(m.here)", m={"here": 1}) is True


# --- unknown propagation ----------------------------------------------------------------------

@pytest.mark.parametrize("src", [
    "u + 1", "1 - u", "u * u", "-u", "!u", "u == 1", "[u] == [1]", "u ? 1 : 2", "u > 3",
    '"x-${u}"', "upper(u)", "[for x in u : x]", "u[0]", "u.attr", "u[*].url", "true && u", "false || u",
])
def test_unknown_propagates(src: str) -> None:
    assert ev(src, u=UNKNOWN) is UNKNOWN


@pytest.mark.parametrize("src, want", [
    ("false && u", False),
    ("true || u", True),
    ("[u, 1][1]", 1),
    ("length([u, u])", 2),
])
def test_known_results_despite_unknown_parts(src: str, want: Any) -> None:
    assert ev(src, u=UNKNOWN) == want


def test_conditional_with_known_condition_ignores_unknown_branch() -> None:
    assert ev("true ? 1 : u", u=UNKNOWN) == 1


# --- properties ----------------------------------------------------------------------------------

ints = st.integers(min_value=-10**12, max_value=10**12)
finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
numbers = st.one_of(ints, finite)


@PROPS
@given(a=ints, b=ints, op=st.sampled_from(["+", "-", "*"]))
def test_integer_arithmetic_agrees_with_python(a: int, b: int, op: str) -> None:
    want = {"+": a + b, "-": a - b, "*": a * b}[op]
    got = binary(op, a, b)
    assert got == want and isinstance(got, int)


@PROPS
@given(a=numbers, b=numbers)
def test_division_agrees_with_python(a: float, b: float) -> None:
    if b == 0:
        with pytest.raises(EvalError, match="Division by zero"):
            binary("/", a, b)
        return
    assert binary("/", a, b) == pytest.approx(a / b)


@PROPS
@given(a=ints, b=ints.filter(lambda x: x != 0))
def test_modulo_agrees_with_fmod(a: int, b: int) -> None:
    assert binary("%", a, b) == pytest.approx(math.fmod(a, b))


@PROPS
@given(a=numbers, b=numbers, op=st.sampled_from(["<", "<=", ">", ">="]))
def test_comparison_agrees_with_python(a: float, b: float, op: str) -> None:
    want = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    assert binary(op, a, b) is want


@PROPS
@given(a=numbers, op=st.sampled_from(["+", "-", "*", "/", "%", "<", ">=", "==", "!="]), left=st.booleans())
def test_unknown_in_unknown_out(a: float, op: str, left: bool) -> None:
    args = (UNKNOWN, a) if left else (a, UNKNOWN)
    assert binary(op, *args) is UNKNOWN


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, finite, st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=8,
)


@PROPS
@given(a=json_values, b=json_values)
def test_equality_is_symmetric(a: Any, b: Any) -> None:
    assert binary("==", a, b) is binary("==", b, a)
    assert binary("!=", a, b) is (not binary("==", a, b))


@PROPS
@given(a=json_values)
def test_equality_is_reflexive(a: Any) -> None:
    assert binary("==", a, a) is True


@PROPS
@given(a=st.booleans(), b=st.booleans(), op=st.sampled_from(["&&", "||"]))
def test_logic_agrees_with_python(a: bool, b: bool, op: str) -> None:
    assert binary(op, a, b) is (a and b if op == "&&" else a or b)


safe_text = st.text(alphabet=st.characters(blacklist_characters='"\\$%{}\n\r', blacklist_categories=["Cs", "Cc"]),
                    max_size=12)


@PROPS
@given(parts=st.lists(safe_text, min_size=1, max_size=4))
def test_template_concatenates_like_python(parts: list[str]) -> None:
    names = {f"v{i}": p for i, p in enumerate(parts)}
    src = '"' + "-".join(f"${{v{i}}}" for i in range(len(parts))) + '"'
    assert ev(src, **names) == "-".join(parts)


def test_errors_are_diagnostics_errors() -> None:
    assert issubclass(EvalError, DiagnosticsError)


@pytest.mark.parametrize("src, want", [
    ("(1\n    + 2)", 3),
    ("(2\n  * 3\n  - 1)", 5),
    ("(true\n  && false)", False),
    ("(1 # one\n  + 2)", 3),
    ("[for v in [1, 2] : v\n  * 10]", [10, 20]),
])
def test_an_expression_continued_on_the_next_line_with_its_operator(src: str, want: Any) -> None:
    # python-hcl2 folds the line break before the operator into the operator's token;
    # this was an internal error (KeyError '\n    +') before.
    assert ev(src) == want
