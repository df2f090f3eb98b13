"""jsonencode, jsondecode, yamldecode, base64 and sha256. Rows in the case
tables are what Terraform v1.11.4's ``terraform console`` returned for the
same call."""

from __future__ import annotations

import math
import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


def call(name: str, *args: Any) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=pathlib.Path(".")))


JSON_ENCODE = [
    ({"b": "<a&>", "a": [1, 1.5, 1e20, 1e-7, None, True]},
     '{"a":[1,1.5,100000000000000000000,0.0000001,null,true],"b":"\\u003ca\\u0026\\u003e"}'),
    ('\\ / "', '"\\\\ / \\""'),
    (0.1, "0.1"),
    (None, "null"),
    ({}, "{}"),
    ([], "[]"),
    ("é\U0001F600", '"é\U0001F600"'),
    (123456789012345678901234567890, "123456789012345678901234567890"),
    (-1.5e-10, "-0.00000000015"),
    ({"z": {"y": [{"x": None}]}}, '{"z":{"y":[{"x":null}]}}'),
    ("\x00\x1f\x7f\x08\x0c\n\r\t", '"\\u0000\\u001f\x7f\\b\\f\\n\\r\\t"'),
    ("a\x85b", '"a\x85b"'),
    ("x\u2028y", '"x\\u2028y"'),
]


@pytest.mark.parametrize(("value", "expected"), JSON_ENCODE)
def test_jsonencode_matches_terraform(value: Any, expected: str) -> None:
    assert call("jsonencode", value) == expected


JSON_DECODE = [
    ('{"a":1.0,"b":[1,2e3,null],"c":{"d":"x"}}', {"a": 1, "b": [1, 2000, None], "c": {"d": "x"}}),
    ('{"a":1,"a":2}', {"a": 2}),
    ("1e400", 10**400),
    ('"\\ud83d\\ude00"', "\U0001F600"),
    ('"\\ud83d"', "\ufffd"),
    (" 5 ", 5),
    ("{}", {}),
    ("[]", []),
    ("null", None),
    ("true", True),
    ('"a\\u0000b"', "a\x00b"),
    ('"e\\u0301"', "\u00e9"),
    ("1E2", 100),
    ("0.1", 0.1),
    ("\t\n 1 \r", 1),
    ("-1.5e-3", -0.0015),
    ('"\\/"', "/"),
    ("1.5e300", 15 * 10**299),
    ('{"b":1,"a":2}', {"a": 2, "b": 1}),
]


@pytest.mark.parametrize(("text", "expected"), JSON_DECODE)
def test_jsondecode_matches_terraform(text: str, expected: Any) -> None:
    result = call("jsondecode", text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"invalid JSON: unexpected end of JSON input"),
        ("1 2", r"invalid JSON: Extra data"),
        ("[1,]", r"invalid JSON: .*line 1, column 4"),
        ("NaN", r"invalid JSON: .*'N'"),
        ("Infinity", r"invalid JSON"),
        ("{'a': 1}", r"invalid JSON"),
    ],
)
def test_jsondecode_errors(text: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call("jsondecode", text)
    assert exc.value.arg_index == 0


def test_jsonencode_refuses_infinity() -> None:
    with pytest.raises(FunctionError, match=r'"val" parameter: an infinite or NaN number cannot be represented in JSON'):
        call("jsonencode", [math.inf])


YAML_DECODE: list[tuple[str, Any]] = [
    ("a: yes\nb: on\nc: 0o17\nd: 017\ne: ~\nf: 2001-12-14\ng: 1_000\nh: 0x1F\nj: Null\nk: TRUE\nl: 1.0\nm: '1'\n"
     'n: [1, "a"]\no: {x: 1}',
     {"a": True, "b": True, "c": 15, "d": 17, "e": None, "f": "2001-12-14T00:00:00Z", "false": [1, "a"],
      "g": "1_000", "h": 31, "j": None, "k": True, "l": 1, "m": "1", "o": {"x": 1}}),
    ("[1_000, 0x1F, 0o17, 017, 0b101, -0x1F, +0x1F, 0X1F, 0O17, 1e3, .5, -.5, 5., 08, 09.5, 0x, 1_0.5]",
     ["1_000", 31, 15, 17, "0b101", "-0x1F", "+0x1F", "0X1F", "0O17", 1000, 0.5, -0.5, 5, 8, 9.5, "0x", "1_0.5"]),
    ("[y, Y, n, yes, yEs, on, off, OFF, true, tRUE, True, ~, null, NULL, nULL, '', o, t]",
     [True, True, False, True, "yEs", True, False, False, True, "tRUE", True, None, None, None, "nULL", "", "o", "t"]),
    ("[2001-12-14, 2001-1-2, 2001-12-14 21:59:43.10, 2001-12-14T21:59:43Z, 2001-12-14T21:59:43.123+01:00, "
     "'2001-12-14', !!str 2001-12-14, 2001-12-14 21:59:43.10 -5, 2001-13-14]",
     ["2001-12-14T00:00:00Z", "2001-01-02T00:00:00Z", "2001-12-14T21:59:43Z", "2001-12-14T21:59:43Z",
      "2001-12-14T21:59:43+01:00", "2001-12-14", "2001-12-14", "2001-12-14 21:59:43.10 -5", "2001-13-14"]),
    ("[2001-12-14T1:2:3+00:00, 2001-12-14T24:00:00Z, 2001-02-30, 2000-02-29, 2001-02-29, 2001-12-14t21:59:43.10-05:00]",
     ["2001-12-14T01:02:03Z", "2001-12-14T24:00:00Z", "2001-02-30", "2000-02-29T00:00:00Z", "2001-02-29",
      "2001-12-14T21:59:43-05:00"]),
    ("[!!int '5', !!float '1.5', !!bool 'yes', !!null '', !!int 0x10, !!int 0b11, !!int 0_17, !!timestamp 2001-12-14, "
     "!!float 5]",
     ["5", "1.5", "yes", "", 16, 3, 17, "2001-12-14T00:00:00Z", 5]),
    ("{1: a, 2.5: b, true: c, 0x10: d, y: e}", {"1": "a", "16": "d", "2.5": "b", "true": "e"}),
    ("a: |\n  line1\n  line2\nb: >\n  folded\n  text\n", {"a": "line1\nline2\n", "b": "folded text\n"}),
    ("5", 5),
    ("---\na: 1\n...\n", {"a": 1}),
    ('"\\u00e9"', "é"),
    ("- &x 1\n- *x", [1, 1]),
    ("a: !!binary aGVsbG8=", {"a": "aGVsbG8="}),
    ("a: 1\na: 2", {"a": 2}),
    ("<<: {a: 1}\nb: 2", {"a": 1, "b": 2}),
    ("a: &a {x: 1, z: 2}\nb:\n  <<: *a\n  z: 3", {"a": {"x": 1, "z": 2}, "b": {"x": 1, "z": 3}}),
    ("a: &a {x: 1, z: 2}\nb:\n  z: 3\n  <<: *a", {"a": {"x": 1, "z": 2}, "b": {"x": 1, "z": 2}}),
    ("b: {'<<': {x: 1}}", {"b": {"x": 1}}),
    ("{? a}", {"a": None}),
    ("a: !!null x", {"a": None}),
    ("a: 'it''s'\nb: \"tab\\there\"\nc: plain text here", {"a": "it's", "b": "tab\there", "c": "plain text here"}),
    ("- - 1\n  - 2\n- []", [[1, 2], []]),
    ("a: ~\nb:\nc: null", {"a": None, "b": None, "c": None}),
    ("a: 12:30\nb: 190:20:30\nc: 1.2.3\nd: +\ne: .", {"a": "12:30", "b": "190:20:30", "c": "1.2.3", "d": "+", "e": "."}),
    ("a: 9223372036854775808\nb: 0xFFFFFFFFFFFFFFFF", {"a": 9223372036854775808, "b": 18446744073709551615}),
]


@pytest.mark.parametrize(("text", "expected"), YAML_DECODE)
def test_yamldecode_matches_terraform(text: str, expected: Any) -> None:
    assert call("yamldecode", text) == expected


def test_yamldecode_infinities() -> None:
    assert call("yamldecode", "[.inf, -.Inf, +.INF, inf]") == [math.inf, -math.inf, math.inf, "inf"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\n---\nb: 2", r"invalid YAML: on line 2, column 1: unexpected extra content after value"),
        ("", r"invalid YAML: on line 1, column 1: missing start of document"),
        ("# only a comment", r"missing start of document"),
        ("a: .nan", r"floating point NaN is not supported"),
        ("? [1,2]\n: x", r"on line 1, column 3: only strings are allowed as mapping keys"),
        ("null: c", r"on line 1, column 1: mapping key cannot be null"),
        ("a: [", r"invalid YAML: on line 1, column 5"),
        ("a: !!set {x, y}", r"can't interpret mapping as tag:yaml.org,2002:set"),
        ("a: !custom 5", r'unsupported tag "!custom"'),
        ("!!int abc", r'cannot parse "abc" as tag:yaml.org,2002:int'),
        ("!!bool maybe", r'cannot parse "maybe" as tag:yaml.org,2002:bool'),
        ("!!binary abc", r'cannot parse "abc" as tag:yaml.org,2002:binary: not valid base64'),
        ("a: !!timestamp foo", r'cannot parse "foo" as tag:yaml.org,2002:timestamp'),
        ("b:\n  <<: 5", r"cannot merge number into mapping"),
        ("c:\n  <<: [{p: 1}]", r"cannot merge tuple into mapping"),
        ("&a [*a]", r"cannot refer to an anchor from inside its own definition"),
        ("\t5", r"invalid YAML"),
    ],
)
def test_yamldecode_errors(text: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call("yamldecode", text)
    assert exc.value.arg_index == 0


def test_yamldecode_refuses_alias_bombs() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    with pytest.raises(FunctionError, match=r"expands to too many values"):
        call("yamldecode", "\n".join(lines))


BASE64_AND_HASH = [
    ("sha256", "hello", "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"),
    ("sha256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("sha256", "héllo", "3c48591d8d098a4538f5e013dfcf406e948eac4d3277b10bf614e295d6068179"),
    ("sha256", "\U0001F600", "f0443a342c5ef54783a111b51ba56c938e474c32324d90c3a60c9c8e3a37e2d9"),
    ("base64encode", "hello", "aGVsbG8="),
    ("base64encode", "", ""),
    ("base64encode", "héllo", "aMOpbGxv"),
    ("base64encode", "\x00", "AA=="),
    ("base64encode", "\U0001F600", "8J+YgA=="),
    ("base64decode", "aMOpbGxv", "héllo"),
    ("base64decode", "aGVsbG8=\n", "hello"),
    ("base64decode", "", ""),
    ("base64decode", "aGVs\nbG8=", "hello"),
    ("base64decode", "aGVsbG8=\r\n", "hello"),
    ("base64decode", "8J+YgA==", "\U0001F600"),
    ("base64decode", "YQ==", "a"),
]


@pytest.mark.parametrize(("name", "arg", "expected"), BASE64_AND_HASH)
def test_base64_and_sha256_match_terraform(name: str, arg: str, expected: str) -> None:
    assert call(name, arg) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aGVsbG8", r'failed to decode base64 data "aGVsbG8"'),
        ("aGVs bG8=", r"failed to decode base64 data"),
        ("aGV-bG8=", r"failed to decode base64 data"),
        ("YQ", r"failed to decode base64 data"),
        ("é", r"failed to decode base64 data"),
        ("/w==", r"the result of decoding the provided string is not valid UTF-8"),
    ],
)
def test_base64decode_errors(text: str, message: str) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call("base64decode", text)
    assert exc.value.arg_index == 0
