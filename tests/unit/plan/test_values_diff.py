"""Plan text of changed values, line by line, as ``plan`` prints them (engine/plan/values.py).

Each test is a rule a user reads in a plan: what a change of a list, a heredoc or a type
looks like, what is hidden as unchanged (and how many), how numbers and non-ASCII text are
written, and that a secret stays hidden inside a changed list of objects.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from mlform.engine.plan.values import SENSITIVE, Writer, inline, scalar, value_text


def diff(before: Any, after: Any, sensitive: list[list[Any]] | None = None) -> list[str]:
    w = Writer(sensitive=sensitive)
    w.diff(0, "x = ", before, after, ("x",))
    return w.lines


def test_whole_floats_are_written_as_integers_and_negative_zero_as_zero() -> None:
    assert [scalar(v) for v in (3.0, -0.0, 1e15, 10**20)] == [
        "3", "0", "1000000000000000", "100000000000000000000"]


def test_non_ascii_text_and_keys_are_written_as_they_are() -> None:
    assert scalar("café") == '"café"'
    assert inline({"clé x": "é"}) == '{ "clé x" = "é" }'
    # a value of another type (a path, a date) is written as its text, quoted
    assert scalar(PurePosixPath("modèles/m.onnx")) == '"modèles/m.onnx"'


def test_a_sensitive_value_inside_a_one_line_value_or_change_is_hidden() -> None:
    assert inline([SENSITIVE, 1]) == "[(sensitive value), 1]"
    assert diff("a", SENSITIVE) == ['~ x = "a" -> (sensitive value)']


def test_a_heredoc_without_a_final_newline_keeps_its_last_line() -> None:
    assert value_text("a\nb") == "<<-EOT\n    a\n    b\nEOT"


def test_a_changed_heredoc_shows_its_unchanged_lines_and_each_changed_one() -> None:
    assert diff("#!/bin/sh\nold\nexit 0\n", "#!/bin/sh\nnew\nexit 0\n") == [
        "~ x = <<-EOT", "      #!/bin/sh", "    - old", "    + new", "      exit 0", "  EOT"]


def test_a_heredoc_that_becomes_one_line_is_diffed_line_by_line() -> None:
    assert diff("one\ntwo\n", "single") == ["~ x = <<-EOT", "    - one", "    - two", "    + single", "  EOT"]


def test_a_change_of_type_removes_the_old_value_and_adds_the_new_one() -> None:
    assert diff({"k": 1}, "str") == ["- x = {", "    - k = 1", "  }", '+ x = "str"']
    assert diff([1, 2], "str") == ["- x = [", "    - 1,", "    - 2,", "  ]", '+ x = "str"']


def test_a_float_change_that_rounding_does_not_hide_is_shown_rounded() -> None:
    assert diff(0.123456, 0.2) == ["~ x = 0.1235 -> 0.2"]


def test_a_list_change_counts_the_unchanged_elements_on_each_side() -> None:
    assert diff(["a", "b", "c", "d"], ["a", "x", "c", "d"]) == [
        "~ x = [", "      # (1 unchanged element hidden)", '    - "b",', '    + "x",',
        "      # (2 unchanged elements hidden)", "  ]"]


def test_a_changed_object_in_a_list_is_diffed_in_place_and_later_changes_still_shown() -> None:
    before = [{"name": "l"}, {"name": "m", "n": 1}, "keep", "x"]
    after = [{"name": "l"}, {"name": "m", "n": 2}, "keep", "y"]
    assert diff(before, after) == [
        "~ x = [",
        "      # (1 unchanged element hidden)",
        "    ~ {",
        "        ~ n    = 1 -> 2",
        "          # (1 unchanged attribute hidden)",
        "      },",
        "      # (1 unchanged element hidden)",
        '    - "x",',
        '    + "y",',
        "  ]"]


def test_objects_replaced_together_with_other_values_are_removed_and_added() -> None:
    assert diff([{"n": 1}, "x"], [{"n": 2}, "y"]) == [
        "~ x = [", "    - {", "        - n = 1", "      },", '    - "x",',
        "    + {", "        + n = 2", "      },", '    + "y",', "  ]"]
    # an object turned into a string among changed objects: no pairwise diff either
    assert diff([{"n": 1}, {"n": 3}], ["y", {"n": 4}]) == [
        "~ x = [", "    - {", "        - n = 1", "      },", "    - {", "        - n = 3", "      },",
        '    + "y",', "    + {", "        + n = 4", "      },", "  ]"]


def test_an_object_whose_keys_come_in_another_order_is_unchanged() -> None:
    assert diff([{"a": 1, "b": 2}, "x"], [{"b": 2, "a": 1}, "y"]) == [
        "~ x = [", "      # (1 unchanged element hidden)", '    - "x",', '    + "y",', "  ]"]


def test_a_secret_in_a_changed_object_of_a_list_stays_hidden() -> None:
    before = [{"name": "l", "token": "s1"}, {"name": "m", "token": "s2"}]
    after = [{"name": "l", "token": "s1"}, {"name": "m", "token": "s3"}]
    lines = diff(before, after, sensitive=[["x", 1, "token"]])
    assert "        ~ token = (sensitive value)" in lines, lines
    assert not any("s2" in line or "s3" in line for line in lines), lines


def test_one_change_in_a_long_repetitive_list_or_text_shows_only_that_change() -> None:
    # difflib's "popular element" heuristic would turn the rest of a 300-element list into a change
    before = [i % 3 for i in range(300)]
    after = list(before)
    after[150] = 7
    assert diff(before, after) == [
        "~ x = [", "      # (150 unchanged elements hidden)", "    - 0,", "    + 7,",
        "      # (149 unchanged elements hidden)", "  ]"]
    text = [("pass", "retry", "sleep 1")[i % 3] for i in range(240)]
    changed = list(text)
    changed[120] = "exit 1"
    lines = diff("\n".join(text) + "\n", "\n".join(changed) + "\n")
    assert [line for line in lines if line.lstrip().startswith(("-", "+"))] == ["    - pass", "    + exit 1"]
    assert len(lines) == 2 + 240 + 1
