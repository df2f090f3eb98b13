"""Conversion and number functions. Rows in CASES are what Terraform v1.11.4's
``terraform console`` returned for the same call (numbers compared with
their int/float kind: integral results are ints)."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


def call(name: str, *args: Any) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=pathlib.Path(".")))


CASES: list[tuple[str, list[Any], Any]] = [
    ("min", [1, "2", 0.5], 0.5),
    ("max", [1, "2", 0.5], 2),
    ("min", [-5], -5),
    ("max", [1e100, 1], 10**100),
    ("min", [3, 3.0], 3),
    ("max", [0.1, 0.2], 0.2),
    ("abs", [-3.5], 3.5),
    ("abs", ["-2"], 2),
    ("abs", [0], 0),
    ("abs", [1e300], 10**300),
    ("ceil", [1.2], 2),
    ("floor", [1.2], 1),
    ("ceil", [-1.2], -1),
    ("floor", [-1.2], -2),
    ("ceil", [5], 5),
    ("ceil", ["1.5"], 2),
    ("floor", ["1.5"], 1),
    ("ceil", [-0.5], 0),
    ("floor", [-0.5], -1),
    ("ceil", [1e20], 10**20),
    ("ceil", [2.5], 3),
    ("floor", [0.999999999999], 0),
    ("tostring", [1e20], "100000000000000000000"),
    ("tostring", [0.1], "0.1"),
    ("tostring", [1.5], "1.5"),
    ("tostring", [True], "true"),
    ("tostring", [False], "false"),
    ("tostring", ["x"], "x"),
    ("tostring", [5], "5"),
    ("tostring", [1e-7], "0.0000001"),
    ("tostring", [123456789.125], "123456789.125"),
    ("tonumber", ["1.5"], 1.5),
    ("tonumber", ["1e3"], 1000),
    ("tonumber", ["-.5"], -0.5),
    ("tonumber", ["+5"], 5),
    ("tonumber", ["5."], 5),
    ("tonumber", [5], 5),
    ("tonumber", ["1E+3"], 1000),
    ("tonumber", ["0.10"], 0.1),
    ("tonumber", ["00012"], 12),
    ("tonumber", ["123456789012345678901234567890"], 123456789012345678901234567890),
    ("tobool", ["true"], True),
    ("tobool", ["false"], False),
    ("tobool", [True], True),
    ("tolist", [[1, "a"]], ["1", "a"]),
    ("tolist", [[{"a": 1}, {"b": "x"}]], [{"a": "1"}, {"b": "x"}]),  # objects with different keys become maps
    ("tolist", [[{"a": 1}, {"a": "x"}]], [{"a": "1"}, {"a": "x"}]),
    ("tolist", [[[1], ["a", "b"]]], [["1"], ["a", "b"]]),
    ("tolist", [[None, 1]], [None, 1]),
    ("tolist", [["a", None]], ["a", None]),
    ("tolist", [[]], []),
    ("tolist", [[True, "x"]], ["true", "x"]),
    ("tolist", [[[1, "a"], [2, "b"]]], [[1, "a"], [2, "b"]]),  # tuples of the same shape stay tuples
    ("tolist", [[{"a": 1, "b": True}, {"a": "x", "b": False}]], [{"a": "1", "b": True}, {"a": "x", "b": False}]),
    ("tolist", [[[], [1]]], [[], [1]]),
    ("tolist", [[{}, {"a": 1}]], [{}, {"a": 1}]),
    ("tolist", [[[None], [None]]], [[None], [None]]),
    ("tolist", [[[None], [1]]], [[None], [1]]),
    ("tolist", [[{"a": None}, {"a": 1}]], [{"a": None}, {"a": 1}]),
    ("toset", [["b", "a", "b"]], ["a", "b"]),
    ("toset", [[3, 10, 1, 3]], [1, 3, 10]),  # numbers by value
    ("toset", [["a", 1]], ["1", "a"]),
    ("toset", [[True, False, True]], [False, True]),
    ("toset", [[{"a": 1}, {"a": 1}, {"a": 0}]], [{"a": 0}, {"a": 1}]),
    ("toset", [[[2], [1]]], [[1], [2]]),
    ("toset", [[1.5, 1, -2, 1e20]], [-2, 1, 1.5, 10**20]),
    ("toset", [["é", "e", "E", "z"]], ["E", "e", "z", "é"]),
    ("toset", [[None, "a", None]], ["a", None]),
    ("toset", [[]], []),
    ("toset", [[None, None]], [None]),
    ("tomap", [{"a": 1, "b": "x"}], {"a": "1", "b": "x"}),
    ("tomap", [{"a": None, "b": 1}], {"a": None, "b": 1}),
    ("tomap", [{}], {}),
    ("tomap", [{"a": {"x": 1}, "b": {"y": "z"}}], {"a": {"x": "1"}, "b": {"y": "z"}}),
    ("tomap", [{"a": [1], "b": [1, 2]}], {"a": [1], "b": [1, 2]}),
    ("tomap", [{"a": [1], "b": ["x"]}], {"a": ["1"], "b": ["x"]}),
    ("tomap", [{"a": None, "b": {"c": 1}}], {"a": None, "b": {"c": 1}}),
    ("tomap", [{"a": [None], "b": [1]}], {"a": [None], "b": [1]}),
    ("tomap", [{"a": None, "b": 1, "c": "x"}], {"a": None, "b": "1", "c": "x"}),
]


@pytest.mark.parametrize(("name", "args", "expected"), CASES)
def test_conversions_match_terraform(name: str, args: list[Any], expected: Any) -> None:
    result = call(name, *args)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize("name", ["tostring", "tonumber", "tobool", "tolist", "toset", "tomap"])
def test_conversions_keep_null(name: str) -> None:
    assert call(name, None) is None


def test_infinity_is_a_number() -> None:
    # terraform: tonumber("Inf") is +Inf, ceil of it stays infinite
    assert call("tonumber", "-Inf") == -math.inf
    assert call("ceil", math.inf) == math.inf
    assert call("tostring", math.inf) == "+Inf"


@pytest.mark.parametrize(
    ("name", "args", "message", "arg_index"),
    [
        ("min", [], r"must pass at least one number", None),
        ("max", [[1, 2]], r'"numbers" parameter: number required', 0),
        ("max", [1, "a"], r'"numbers" parameter: a number is required', 1),
        ("min", [None, 1], r"argument must not be null", 0),
        ("min", [True], r"number required", 0),
        ("abs", [None], r'"num" parameter: argument must not be null', 0),
        ("ceil", ["abc"], r'"num" parameter: a number is required', 0),
        ("tostring", [[1]], r'"v" parameter: cannot convert tuple to string', 0),
        ("tostring", [{"a": 1}], r"cannot convert object to string", 0),
        ("tonumber", [" 1"], r'cannot convert " 1" to number; given string must be a decimal representation', 0),
        ("tonumber", ["0x10"], r'cannot convert "0x10" to number', 0),
        ("tonumber", ["1_000"], r'cannot convert "1_000" to number', 0),
        ("tonumber", ["NaN"], r'cannot convert "NaN" to number', 0),
        ("tonumber", ["infinity"], r'cannot convert "infinity" to number', 0),
        ("tonumber", [True], r"cannot convert bool to number", 0),
        ("tobool", ["yes"], r'cannot convert "yes" to bool; only the strings "true" or "false" are allowed', 0),
        ("tobool", [1], r"cannot convert number to bool", 0),
        ("tolist", [[1, True]], r"cannot convert tuple to list of any single type", 0),
        ("tolist", [[[1], {"a": 1}]], r"cannot convert tuple to list of any single type", 0),
        ("tolist", [[None, {"c": "x"}]], r"cannot convert tuple to list of any single type", 0),
        ("tolist", [[{"a": None}, {"a": [1]}]], r"cannot convert tuple to list of any single type", 0),
        ("tolist", ["a"], r"cannot convert string to list of any single type", 0),
        ("toset", [[1, [1]]], r"cannot convert tuple to set of any single type", 0),
        ("tomap", [{"a": 1, "b": [1]}], r"cannot convert object to map of any single type", 0),
        ("tomap", [{"a": True, "b": 1}], r"cannot convert object to map of any single type", 0),
        ("tomap", [[1]], r"cannot convert tuple to map of any single type", 0),
    ],
)
def test_conversion_errors(name: str, args: list[Any], message: str, arg_index: int | None) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call(name, *args)
    assert exc.value.arg_index == arg_index
