"""Diffing recorded against planned attributes: what changed, what forces replacement."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mlform.engine.plan.diff import apply_ignore_changes, changed_paths, forces_replacement
from mlform.engine.values import UNKNOWN

PROPS = settings(max_examples=80, deadline=None)


def test_nested_change_reports_the_innermost_differing_path() -> None:
    before = {"model": {"digest": "a", "format": "onnx"}, "replicas": 2}
    after = {"model": {"digest": "b", "format": "onnx"}, "replicas": 2}
    assert changed_paths(before, after) == [("model", "digest")]


def test_added_and_removed_attributes_are_changes() -> None:
    assert changed_paths({"a": 1}, {"b": 1}) == [("a",), ("b",)]


def test_unknown_after_counts_as_a_change() -> None:
    assert changed_paths({"url": "http://x"}, {"url": UNKNOWN}) == [("url",)]


def test_numbers_compare_by_value_but_bool_is_not_a_number() -> None:
    assert changed_paths({"n": 1}, {"n": 1.0}) == []
    assert changed_paths({"n": 1}, {"n": True}) == [("n",)]


def test_lists_compare_as_a_whole() -> None:
    assert changed_paths({"steps": [10, 50]}, {"steps": [10, 50, 100]}) == [("steps",)]


def test_provider_paths_force_replacement() -> None:
    changed = [("instance_type",), ("replicas",), ("constraints", "accelerators")]
    assert forces_replacement(changed, "endpoint", [("instance_type",)]) == [("instance_type",)]
    # a path under a forced attribute forces too
    assert forces_replacement(changed, "endpoint", [("constraints",)]) == [("constraints", "accelerators")]
    assert forces_replacement(changed, "endpoint", []) == []


def test_ignore_changes_keeps_recorded_values() -> None:
    config = {"replicas": 4, "metadata": {"owner": "b"}, "version": "2"}
    prior = {"replicas": 2, "metadata": {"owner": "a"}, "version": "1"}
    assert apply_ignore_changes(config, prior, ["replicas", "metadata.owner"]) == \
        {"replicas": 2, "metadata": {"owner": "a"}, "version": "2"}
    assert apply_ignore_changes(config, prior, ["all"]) == prior
    assert apply_ignore_changes({"a": 1}, {}, ["a"]) == {}  # not recorded yet: left unset


scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=4))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=3), inner, max_size=3)),
                      max_leaves=8)
objects = st.dictionaries(st.text(max_size=4), values, max_size=4)


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        if not isinstance(obj, dict) or step not in obj:
            return _MISSING
        obj = obj[step]
    return obj


_MISSING = object()


@PROPS
@given(a=objects)
def test_no_change_against_itself(a: dict[str, Any]) -> None:
    assert changed_paths(a, a) == []


@PROPS
@given(a=objects, b=objects)
def test_every_reported_path_differs(a: dict[str, Any], b: dict[str, Any]) -> None:
    for p in changed_paths(a, b):
        x, y = _get(a, p), _get(b, p)
        assert x is _MISSING or y is _MISSING or x != y or type(x) is not type(y)


def _without_nulls(v: Any) -> Any:
    """An attribute set to null is the same as one not set."""
    if isinstance(v, dict):
        return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    return v


def test_null_is_the_same_as_unset() -> None:
    assert changed_paths({}, {"version": None}) == []


@PROPS
@given(a=objects, b=objects)
def test_different_objects_report_a_change(a: dict[str, Any], b: dict[str, Any]) -> None:
    if _without_nulls(a) != _without_nulls(b):
        assert changed_paths(a, b)


@PROPS
@given(a=objects, b=objects)
def test_changed_paths_are_sorted_and_unique(a: dict[str, Any], b: dict[str, Any]) -> None:
    paths = changed_paths(a, b)
    assert len(set(paths)) == len(paths)
    assert {p[0] for p in paths} <= set(a) | set(b)
