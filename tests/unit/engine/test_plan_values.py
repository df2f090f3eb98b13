"""The value renderer's rules that the CLI tests cannot easily reach."""

from __future__ import annotations

from mlform.engine.plan.values import SENSITIVE, Writer, inline, scalar, value_text
from mlform.engine.values import UNKNOWN


def test_numbers_have_four_significant_digits_and_integers_stay_whole() -> None:
    assert [scalar(x) for x in (0.123456, 12.3456, 1234.5, 3.0, 10**12, 1.234e-05, True, None)] == [
        "0.1235", "12.35", "1234", "3", "1000000000000", "1.234e-05", "true", "null"]


def test_a_change_that_rounding_would_hide_is_shown_in_full() -> None:
    w = Writer()
    w.diff(0, "x = ", 0.12341, 0.12342, ("x",))
    assert w.lines == ["~ x = 0.12341 -> 0.12342"]


def test_keys_that_are_not_identifiers_are_quoted_and_secrets_hidden() -> None:
    assert inline({"a b": 1, "ok": [1, "x"]}) == '{ "a b" = 1, ok = [1, "x"] }'
    assert value_text({"token": SENSITIVE, "url": UNKNOWN}) == (
        "{\n    token = (sensitive value)\n    url   = (known after apply)\n}")
    w = Writer(sensitive=[["secret"]])
    w.attrs(0, "+", {"secret": {"deep": "value"}})
    assert w.lines == ["+ secret = (sensitive value)"]


def test_empty_containers_and_one_line_strings_stay_on_one_line() -> None:
    assert value_text({"a": {}, "b": [], "c": "one\n"}) == '{\n    a = {}\n    b = []\n    c = "one\\n"\n}'


def test_a_created_or_destroyed_objects_null_attributes_are_left_out() -> None:
    w = Writer()
    w.attrs(0, "+", {"grpc_url": None, "url": "http://x", "model": {"judge": None, "source": "m"}})
    assert w.lines == ["+ model = {", "    + source = \"m\"", "  }", "+ url   = \"http://x\""]
    w = Writer()
    w.attrs(0, "-", {"grpc_url": None, "url": "http://x"}, suffix_each=" -> null")
    assert w.lines == ["- url = \"http://x\" -> null"]
