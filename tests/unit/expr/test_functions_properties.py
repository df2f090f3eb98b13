"""Properties of the function library that must hold for any input."""

from __future__ import annotations

import pathlib
import unicodedata
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlform.engine.expr.functions import FunctionContext, call_function

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def call(name: str, *args: Any) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=pathlib.Path(".")))


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
numbers = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), finite_floats)
texts = st.text(max_size=20)
# YAML forbids some raw characters (C1 controls, DEL) that JSON strings may hold.
yaml_safe_texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x85\ufeff\ufffe\uffff"),
    max_size=20)


def json_values(strings: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
    return st.recursive(
        scalars,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(strings, children, max_size=4)),
        max_leaves=8)


def canonical(v: Any) -> Any:
    """What a value looks like after a trip through Terraform: NFC strings, integral numbers as ints."""
    if isinstance(v, str):
        return nfc(v)
    if isinstance(v, float) and v.is_integer():
        return int(call("tonumber", repr(v)))
    if isinstance(v, list):
        return [canonical(x) for x in v]
    if isinstance(v, dict):
        return {nfc(k): canonical(x) for k, x in v.items()}
    return v


@SETTINGS
@given(json_values(texts))
def test_jsondecode_inverts_jsonencode(value: Any) -> None:
    assert call("jsondecode", call("jsonencode", value)) == canonical(value)


@SETTINGS
@given(json_values(yaml_safe_texts))
def test_yamldecode_reads_jsonencode_output(value: Any) -> None:
    # JSON is YAML; Terraform's YAML resolution must agree with JSON's on it.
    assert call("yamldecode", call("jsonencode", value)) == canonical(value)


@SETTINGS
@given(json_values(texts))
def test_jsonencode_escapes_html_characters(value: Any) -> None:
    assert not set(call("jsonencode", value)) & set("<>&\u2028\u2029")


@SETTINGS
@given(st.text(min_size=1, max_size=3), st.lists(texts, min_size=1, max_size=6))
def test_split_inverts_join(sep: str, parts: list[str]) -> None:
    parts = [nfc(p) for p in parts]
    sep = nfc(sep)
    if any(sep in p for p in parts) or any(sep in a + b for a, b in zip(parts, parts[1:])):
        return
    assert call("split", sep, call("join", sep, parts)) == parts


@SETTINGS
@given(st.lists(json_values(texts), max_size=5), st.lists(json_values(texts), max_size=5))
def test_concat_length_adds_up(a: list[Any], b: list[Any]) -> None:
    assert call("length", call("concat", a, b)) == len(a) + len(b)


@SETTINGS
@given(st.dictionaries(texts, numbers, max_size=5), st.dictionaries(texts, numbers, max_size=5))
def test_merge_keys_are_the_sorted_union(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert call("keys", call("merge", a, b)) == sorted({nfc(k) for k in a} | {nfc(k) for k in b})
    merged = call("merge", a, b)
    for k, v in b.items():
        assert merged[nfc(k)] == canonical(v)


@SETTINGS
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=30))
def test_lower_of_upper_is_lower_on_ascii(s: str) -> None:
    assert call("lower", call("upper", s)) == s.lower()


@SETTINGS
@given(texts)
def test_case_mapping_is_idempotent(s: str) -> None:
    upper = call("upper", s)
    lower = call("lower", s)
    assert call("upper", upper) == upper
    assert call("lower", lower) == lower


@SETTINGS
@given(st.lists(numbers, min_size=1, max_size=8))
def test_min_is_at_most_max(xs: list[int | float]) -> None:
    lo, hi = call("min", *xs), call("max", *xs)
    assert lo <= hi
    assert lo == canonical(min(xs)) and hi == canonical(max(xs))


@SETTINGS
@given(st.one_of(st.lists(numbers, max_size=8), st.lists(texts, max_size=8), st.lists(st.booleans(), max_size=4)))
@example([0, -0.0])  # found by hypothesis: -0.0 and 0 were two elements, shown as [0, 0]
def test_toset_is_sorted_unique_and_idempotent(xs: list[Any]) -> None:
    once = call("toset", xs)
    assert call("toset", once) == once
    assert len(once) == len({repr(x) for x in once})
    assert once == sorted(once)


@SETTINGS
@given(texts)
def test_length_counts_characters_not_code_points(s: str) -> None:
    n = call("length", s)
    assert 0 <= n <= len(nfc(s))
    assert (n == 0) == (s == "")
    assert call("substr", s, 0, -1) == nfc(s)
    assert "".join(call("substr", s, i, 1) for i in range(n)) == nfc(s)


@SETTINGS
@given(numbers)
def test_numbers_survive_tostring_and_format(x: int | float) -> None:
    assert call("tonumber", call("tostring", x)) == canonical(x)
    assert call("tonumber", call("format", "%v", x)) == canonical(x)


@SETTINGS
@given(st.integers())
def test_format_d_is_decimal_text(n: int) -> None:
    assert call("format", "%d", n) == str(n)
    assert call("format", "%x", n) == format(n, "x")


@SETTINGS
@given(texts)
def test_base64_round_trips(s: str) -> None:
    assert call("base64decode", call("base64encode", s)) == nfc(s)


@SETTINGS
@given(texts, st.text(min_size=1, max_size=3))
def test_replacing_a_substring_with_itself_changes_nothing(s: str, sub: str) -> None:
    if sub.startswith("/") and sub.endswith("/") and len(sub) > 1:
        return
    assert call("replace", s, sub, sub) == nfc(s)


@SETTINGS
@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=10))
def test_distinct_keeps_first_occurrences_in_order(xs: list[str]) -> None:
    assert call("distinct", xs) == list(dict.fromkeys(xs))


@SETTINGS
@given(st.recursive(st.integers(), lambda c: st.lists(c, max_size=3), max_leaves=10))
def test_flatten_keeps_every_leaf_in_order(v: Any) -> None:
    def leaves(x: Any) -> list[int]:
        return [y for e in x for y in leaves(e)] if isinstance(x, list) else [x]

    lst = v if isinstance(v, list) else [v]
    assert call("flatten", lst) == leaves(lst)
