"""The function-call contract, and the string functions.

Expected values marked "terraform" were produced by Terraform v1.11.4's
``terraform console`` for the same arguments; the rest are mlform behaviour
that Terraform has no equivalent for (unknown values, file errors naming the
resolved path) and were checked by hand.
"""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FUNCTIONS, FunctionContext, FunctionError, FunctionSpec, call_function
from mlform.engine.values import UNKNOWN


def call(name: str, *args: Any, base_dir: pathlib.Path | None = None) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=base_dir or pathlib.Path(".")))


# ---------------------------------------------------------------------------
# Contract


def test_every_spec_is_consistent() -> None:
    for name, spec in FUNCTIONS.items():
        assert isinstance(spec, FunctionSpec)
        assert spec.name == name
        assert spec.description, f"{name} has no description"
        assert spec.params, f"{name} names no parameters"
        assert spec.max_args is None or spec.max_args >= spec.min_args


def test_required_functions_exist() -> None:
    required = (
        "file filesha256 templatefile jsonencode jsondecode yamldecode format join split lower upper replace "
        "merge concat length lookup keys values contains coalesce min max abs ceil floor tostring tonumber "
        "tolist toset tomap trimspace substr range flatten distinct sort element index zipmap sha256 "
        "base64encode base64decode"
    ).split()
    assert set(required) <= set(FUNCTIONS)
    assert "try" not in FUNCTIONS and "can" not in FUNCTIONS  # special forms of the evaluator


def test_unknown_function_suggests_the_closest_name() -> None:
    with pytest.raises(FunctionError, match=r'There is no function named "uper"\. Did you mean "upper"\?') as exc:
        call("uper", "x")
    assert exc.value.arg_index is None


def test_unknown_function_without_a_close_name_points_at_the_docs() -> None:
    with pytest.raises(FunctionError, match=r'no function named "cidrsubnet"\. .*docs/functions\.md'):
        call("cidrsubnet", "10.0.0.0/8", 8, 1)


def test_too_few_arguments_names_the_missing_parameter() -> None:
    with pytest.raises(FunctionError, match=r'function "lookup" expects at least 2 argument\(s\)\. Missing value for "key"'):
        call("lookup", {"a": 1})


def test_too_many_arguments_points_at_the_first_extra_one() -> None:
    with pytest.raises(FunctionError, match=r'function "upper" expects only 1 argument\(s\)') as exc:
        call("upper", "a", "b")
    assert exc.value.arg_index == 1


def test_unknown_argument_makes_an_unknown_result() -> None:
    assert call("upper", UNKNOWN) is UNKNOWN
    assert call("jsonencode", {"a": [1, UNKNOWN]}) is UNKNOWN
    assert call("format", "%s-%s", "a", UNKNOWN) is UNKNOWN


def test_partly_unknown_collections_keep_what_is_known() -> None:
    assert call("length", [UNKNOWN, 2]) == 2
    assert call("length", UNKNOWN) is UNKNOWN
    assert call("concat", [1, UNKNOWN], [3]) == [1, UNKNOWN, 3]
    assert call("concat", [1], UNKNOWN) is UNKNOWN
    assert call("merge", {"a": UNKNOWN}, {"b": 2}) == {"a": UNKNOWN, "b": 2}
    assert call("merge", {"a": 1}, UNKNOWN) is UNKNOWN
    assert call("keys", {"b": UNKNOWN, "a": 1}) == ["a", "b"]
    assert call("values", {"b": UNKNOWN, "a": 1}) == [1, UNKNOWN]
    assert call("lookup", {"a": UNKNOWN, "b": 2}, "b") == 2
    assert call("lookup", {"a": 1}, UNKNOWN) is UNKNOWN
    assert call("element", ["x", UNKNOWN], 2) == "x"
    assert call("zipmap", ["a", "b"], [1, UNKNOWN]) == {"a": 1, "b": UNKNOWN}
    assert call("zipmap", ["a", UNKNOWN], [1, 2]) is UNKNOWN


def test_type_errors_are_checked_before_unknowns_short_circuit() -> None:
    with pytest.raises(FunctionError, match='arguments must be maps or objects, got "tuple"') as exc:
        call("merge", UNKNOWN, [1])
    assert exc.value.arg_index == 1


def test_results_are_nfc_normalized_like_every_terraform_string() -> None:
    # terraform: jsondecode("\"e\\u0301\"") is "é" (one code point)
    assert call("jsondecode", '"e\\u0301"') == "\u00e9"
    assert call("lower", "E\u0301") == "\u00e9"


def test_argument_errors_name_the_parameter_and_point_at_it() -> None:
    with pytest.raises(FunctionError, match=r'Invalid value for "str" parameter: argument must not be null') as exc:
        call("upper", None)
    assert exc.value.arg_index == 0
    with pytest.raises(FunctionError, match=r'Invalid value for "replace" parameter: argument must not be null') as exc:
        call("replace", "a", "a", None)
    assert exc.value.arg_index == 2


# ---------------------------------------------------------------------------
# Strings (terraform: every row)

STRING_CASES: list[tuple[str, list[Any], Any]] = [
    ("join", [",", ["a", 1, True]], "a,1,true"),
    ("join", [",", []], ""),
    ("join", [", ", ["a"], ["b", "c"]], "a, b, c"),
    ("join", ["", ["x", 1.5]], "x1.5"),
    ("split", [",", "a,,b"], ["a", "", "b"]),
    ("split", [",", ""], [""]),
    ("split", ["", "abc"], ["a", "b", "c"]),
    ("split", ["", ""], []),
    ("split", ["ab", "xabyabz"], ["x", "y", "z"]),
    ("split", [",", 5], ["5"]),
    ("split", ["", "\U0001F44D\U0001F3FD"], ["\U0001F44D", "\U0001F3FD"]),  # code points, not characters
    ("lower", ["ÀÉß HeLLo"], "àéß hello"),
    ("upper", ["ßﬁàŉ abc"], "ßﬁÀŉ ABC"),  # no one-to-many mappings: ß stays ß
    ("lower", ["\u0130"], "i"),
    ("upper", ["ǆ"], "Ǆ"),
    ("upper", ["\u1fb3"], "\u1fbc"),
    ("upper", [5], "5"),
    ("lower", [True], "true"),
    ("upper", ["ΣΑΣ σας"], "ΣΑΣ ΣΑΣ"),
    ("replace", ["hello", "l", "L"], "heLLo"),
    ("replace", ["hello", "", "-"], "-h-e-l-l-o-"),
    ("replace", ["a/b", "/", "X"], "aXb"),
    ("replace", ["aaa", "a", ""], ""),
    ("replace", ["1.5", ".", ","], "1,5"),
    ("trimspace", ["  \t\n a b \u00a0\u2003"], "a b"),
    ("trimspace", ["\x1cx\x1c"], "\x1cx\x1c"),  # Python's strip() would remove these
    ("trimspace", ["x\u200b"], "x\u200b"),
    ("trimspace", [""], ""),
    ("substr", ["hello", 1, 3], "ell"),
    ("substr", ["hello", -3, -1], "llo"),
    ("substr", ["hello", 10, 1], ""),
    ("substr", ["hello", 1, 100], "ello"),
    ("substr", ["hello", -10, 2], "he"),
    ("substr", ["hello", 1, -2], "ello"),
    ("substr", ["hello", 5, 1], ""),
    ("substr", ["\U0001F44D\U0001F3FDab", 0, 1], "\U0001F44D\U0001F3FD"),
    ("substr", ["hello", "1", "2"], "el"),
    ("substr", ["hello", -3, 0], "llo"),  # Terraform's quirk: 0 after a negative offset is "to the end"
    ("substr", ["hello", 1, 0], ""),
    ("substr", ["\U0001F1FA\U0001F1F8\U0001F1EB\U0001F1F7x", 1, 1], "\U0001F1EB\U0001F1F7"),
    ("substr", ["a\r\nb", 1, 1], "\r\n"),
    ("substr", ["", 0, 1], ""),
    ("length", ["\U0001F44D\U0001F3FDe\u0301"], 2),
    ("length", ["héllo"], 5),
    ("length", ["\U0001F1FA\U0001F1F8\U0001F1EB\U0001F1F7"], 2),
    ("length", ["a\r\nb"], 3),
    ("length", ["\U0001F468\u200d\U0001F469\u200d\U0001F467"], 1),
    ("length", ["\uac01"], 1),
    ("length", ["\u1100\u1161\u11a8"], 1),
    ("length", ["\u0e01\u0e49"], 1),
    ("length", [""], 0),
]


@pytest.mark.parametrize(("name", "args", "expected"), STRING_CASES)
def test_string_functions(name: str, args: list[Any], expected: Any) -> None:
    assert call(name, *args) == expected


@pytest.mark.parametrize(
    ("name", "args", "message", "arg_index"),
    [
        ("join", [","], "at least one list is required", None),
        ("join", [",", ["a", None]], r'"lists" parameter: element 1 is null; cannot concatenate null values', 1),
        ("join", [",", ["a"], [None]], r"element 0 of list 2 is null", 2),
        ("join", [",", "a"], r'"lists" parameter: list of string required', 1),
        ("join", [",", [[1]]], r"element 0: string required", 1),
        ("split", [",", None], r'"str" parameter: argument must not be null', 1),
        ("lower", [[1]], r'"str" parameter: string required', 0),
        ("substr", ["hello", 1.5, 1], r'"offset" parameter: value must be a whole number, got 1.5', 1),
        ("substr", ["hello", 0, "x"], r'"length" parameter: a number is required', 2),
        ("length", [5], r"argument must be a string, a collection type, or a structural type, got number", 0),
        ("length", [None], r'"value" parameter: argument must not be null', 0),
    ],
)
def test_string_function_errors(name: str, args: list[Any], message: str, arg_index: int | None) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call(name, *args)
    assert exc.value.arg_index == arg_index
