"""Collection functions. Rows in CASES are what Terraform v1.11.4's
``terraform console`` returned for the same call; error messages follow
Terraform's wording, with advice added where it helps."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


def call(name: str, *args: Any) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=pathlib.Path(".")))


CASES: list[tuple[str, list[Any], Any]] = [
    ("merge", [{"a": 1}, {"b": "x"}, None], {"a": 1, "b": "x"}),
    ("merge", [], {}),
    ("merge", [{"a": {"x": 1}}, {"a": {"y": 2}}], {"a": {"y": 2}}),  # shallow
    ("merge", [None], {}),
    ("merge", [{"b": 1, "a": 2}, {"b": 3}], {"a": 2, "b": 3}),
    ("concat", [[1], ["a"]], [1, "a"]),
    ("concat", [[], []], []),
    ("concat", [[[1]], [{"a": 1}]], [[1], {"a": 1}]),
    ("length", [{"a": 1}], 1),
    ("length", [[1, 2]], 2),
    ("length", [[]], 0),
    ("lookup", [{"a": 1}, "a"], 1),
    ("lookup", [{"a": 1}, "b", "x"], "x"),
    ("lookup", [{"a": 1}, "b", None], None),
    ("lookup", [{"a": {"x": 1}}, "b", "d"], "d"),
    ("lookup", [{"a": 1, "b": "s"}, "a", "d"], 1),
    ("lookup", [{"1": 1}, 1], 1),
    ("keys", [{"b": 1, "a": 2, "B": 3}], ["B", "a", "b"]),
    ("keys", [{}], []),
    ("values", [{"b": 1, "a": 2}], [2, 1]),
    ("values", [{}], []),
    ("contains", [["a", 1], 1], True),
    ("contains", [["a", 1], "1"], False),  # no conversion: types must match
    ("contains", [[1, 2], "1"], False),
    ("contains", [["1"], 1], False),
    ("contains", [[[1]], [1]], True),
    ("contains", [[{"a": 1}], {"a": 1}], True),
    ("contains", [[True], "true"], False),
    ("contains", [[1], 1.0], True),
    ("contains", [[], 1], False),
    ("contains", [[{"a": 1}], {"a": 1, "b": 2}], False),
    ("coalesce", ["", None, 2], "2"),  # the arguments unify to string
    ("coalesce", [1, "a"], "1"),
    ("coalesce", [[], [1]], []),  # an empty list is not skipped
    ("coalesce", [None, [1]], [1]),
    ("coalesce", [False, True], False),
    ("coalesce", ["", "", "b"], "b"),
    ("coalesce", [None, 1, True], 1),  # with a null beside types that don't unify, values stay as they are
    ("coalesce", ["", None, {}], ""),  # ...and "" is only skipped when the common type is string
    ("coalesce", [None, "a", [1]], "a"),
    ("coalesce", [{"a": None}, {"b": [1]}], {"a": None}),
    ("flatten", [[1, [2, [3, []]], {"a": 1}, None]], [1, 2, 3, {"a": 1}, None]),
    ("flatten", [[[1], [[2, [3]]], "x"]], [1, 2, 3, "x"]),
    ("flatten", [[]], []),
    ("distinct", [[1, "1", "a", 1]], ["1", "a"]),  # converted to one element type first
    ("distinct", [[[1], [1], [2]]], [[1], [2]]),
    ("distinct", [[]], []),
    ("distinct", [[True, "true"]], ["true"]),
    ("distinct", [[{"a": 1}, {"a": 1}]], [{"a": 1}]),
    ("distinct", [[None, None, 1]], [None, 1]),
    ("distinct", [[1.5, 1.50, "1.5"]], ["1.5"]),
    ("sort", [[3, 10, 1]], ["1", "10", "3"]),  # lexicographic, as strings
    ("sort", [["b", "a", "B"]], ["B", "a", "b"]),
    ("sort", [[True, "a"]], ["a", "true"]),
    ("sort", [[]], []),
    ("sort", [["é", "e", "z", "É"]], ["e", "z", "É", "é"]),
    ("element", [["a", "b"], 3], "b"),  # wraps around
    ("element", [["a"], "1"], "a"),
    ("element", [["a", "b", "c"], 0], "a"),
    ("index", [["a", "b"], "b"], 1),
    ("index", [["1", 2], 2], 1),
    ("index", [[[1]], [1]], 0),
    ("index", [["a", "a"], "a"], 0),
    ("zipmap", [["a", "b"], [1, 2]], {"a": 1, "b": 2}),
    ("zipmap", [["a", "a"], [1, 2]], {"a": 2}),
    ("zipmap", [[1], [1]], {"1": 1}),
    ("zipmap", [[], []], {}),
    ("zipmap", [[True], [1]], {"true": 1}),
    ("range", [3], [0, 1, 2]),
    ("range", [1, 4], [1, 2, 3]),
    ("range", [0, 1, 0.25], [0, 0.25, 0.5, 0.75]),
    ("range", [4, 1], [4, 3, 2]),
    ("range", [1, 1], []),
    ("range", [1.5], [0, 1]),
    ("range", [-3], [0, -1, -2]),
    ("range", [0, -1], [0]),
    ("range", [5, 0, -2], [5, 3, 1]),
    ("range", [0.5, 3], [0.5, 1.5, 2.5]),
    ("range", [-1.5, 1.5, 0.5], [-1.5, -1, -0.5, 0, 0.5, 1]),
    ("range", ["3"], [0, 1, 2]),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES)
def test_collection_functions_match_terraform(name: str, args: list[Any], expected: Any) -> None:
    result = call(name, *args)
    assert result == expected
    assert type(result) is type(expected)


def test_integral_results_are_ints() -> None:
    assert [type(x) for x in call("range", 0, 2, 0.5)] == [int, float, int, float]
    assert call("range", 0.1, 0.4, 0.1) == [0.1, 0.2, 0.3]  # decimal steps, no 0.30000000000000004


def test_merge_keeps_later_values_and_sorts_keys() -> None:
    assert list(call("merge", {"z": 1, "a": 1}, {"m": 2, "z": 3})) == ["a", "m", "z"]


@pytest.mark.parametrize(
    ("name", "args", "message", "arg_index"),
    [
        ("merge", [{"a": 1}, [1]], r'"maps" parameter: arguments must be maps or objects, got "tuple"', 1),
        ("merge", ["a"], r'got "string"', 0),
        ("concat", [[1], "a"], r'"seqs" parameter: all arguments must be lists or tuples; got string', 1),
        ("concat", [None], r'"seqs" parameter: argument must not be null', 0),
        ("lookup", [{"a": 1}, "b"], r'"inputMap" parameter: the given object has no attribute "b"; pass a default', 0),
        ("lookup", [[1], "a", 1], r"lookup\(\) requires a map as the first argument, got tuple", 0),
        ("lookup", [None, "a", 1], r"argument must not be null", 0),
        ("lookup", [{"a": 1}, None, 1], r'"key" parameter: argument must not be null', 1),
        ("keys", [[1]], r'"inputMap" parameter: must have map or object type', 0),
        ("keys", [None], r"argument must not be null", 0),
        ("values", ["x"], r'"mapping" parameter: must have map or object type', 0),
        ("contains", ["a", "a"], r'"list" parameter: argument must be list, tuple, or set, got string', 0),
        ("contains", [[None], None], r'"value" parameter: argument must not be null', 1),
        ("coalesce", [None, ""], r"no non-null, non-empty-string arguments", None),
        ("coalesce", ["a", [1]], r"all arguments must have the same type, got string, tuple", None),
        ("coalesce", [{"a": 1}, {"b": [1]}], r"all arguments must have the same type", None),
        ("flatten", ["a"], r"can only flatten lists, sets and tuples, got string", 0),
        ("distinct", [[1, True]], r'"list" parameter: list of any single type required', 0),
        ("distinct", ["a"], r"a list is required, got string", 0),
        ("sort", [[[1]]], r'"list" parameter: element 0: string required', 0),
        ("sort", [["a", None]], r"given list element 1 is null; a null string cannot be sorted", 0),
        ("element", [[], 0], r"cannot use element function with an empty list", 0),
        ("element", [["a"], -1], r'"index" parameter: cannot use element function with a negative index', 1),
        ("element", [["a"], 1.5], r'"index" parameter: value must be a whole number', 1),
        ("index", [["a", "b"], "c"], r'"value" parameter: item not found', 1),
        ("index", [[1, 2], "2"], r"item not found", 1),
        ("index", [[], 1], r"cannot search an empty list", 0),
        ("zipmap", [["a"], [1, 2]], r"number of keys \(1\) does not match number of values \(2\)", None),
        ("zipmap", [["a", None], [1, 2]], r"keys list has null value at index 1", 0),
        ("zipmap", [[[1]], [1]], r'"keys" parameter: string required', 0),
        ("range", [], r'function "range" expects at least 1 argument\(s\)', None),
        ("range", [1, 2, 3, 4], r'function "range" expects at most 3 argument\(s\)', 3),
        ("range", [1, 4, -1], r'"params" parameter: end must be less than start when step is negative', 1),
        ("range", [4, 1, 1], r"end must be greater than start when step is positive", 1),
        ("range", [0, 1, 0], r"step must not be zero", 2),
        ("range", [2000], r"more than 1024 values were generated; either decrease the difference", None),
        ("range", ["a"], r'"params" parameter: a number is required', 0),
    ],
)
def test_collection_function_errors(name: str, args: list[Any], message: str, arg_index: int | None) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call(name, *args)
    assert exc.value.arg_index == arg_index
