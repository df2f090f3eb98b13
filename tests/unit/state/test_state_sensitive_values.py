"""Sensitive values in unencrypted state: what is masked where, and what a plan gets back.

The state on disk keeps a digest marker in place of each value at a sensitive path; a plan
puts the value back only where the configuration holds the same value (so an unchanged secret
is no change and a changed one is an update). Nested maps and lists, first and last elements,
paths that do not exist and values already masked are each checked (issue 22).
"""

from __future__ import annotations

import hashlib

from mlform.engine.state.sensitive import MARKER, contains_marker, digest, mask, mask_outputs, unmask

ATTRS = {
    "token": "s3cret",
    "env": {"KEY": "k1", "PLAIN": "p"},
    "keys": ["first", "middle", "last"],
    "none": None,
    "n": 7,
}


def marker(value: object) -> dict[str, str]:
    return {MARKER: digest(value)}


def test_the_digest_is_sha256_of_canonical_json_whatever_the_key_order() -> None:
    assert digest("s3cret") == hashlib.sha256(b'"s3cret"').hexdigest()
    assert digest({"b": 1, "a": [1, 2]}) == digest({"a": [1, 2], "b": 1}) == \
        hashlib.sha256(b'{"a":[1,2],"b":1}').hexdigest()
    assert digest("a") != digest("b")


def test_values_at_sensitive_paths_are_masked_and_nothing_else() -> None:
    paths = [["token"], ["env", "KEY"], ["keys", 0], ["keys", 2], ["n"]]
    got = mask(ATTRS, paths)
    assert got == {
        "token": marker("s3cret"),
        "env": {"KEY": marker("k1"), "PLAIN": "p"},
        "keys": [marker("first"), "middle", marker("last")],
        "none": None,
        "n": marker(7),
    }
    assert ATTRS["token"] == "s3cret" and ATTRS["keys"][0] == "first"  # the input is untouched
    assert "s3cret" not in repr(got) and "k1" not in repr(got)


def test_paths_that_do_not_exist_null_values_and_markers_are_left_alone() -> None:
    paths = [["missing"], ["keys", 3], ["keys", -1], ["env", "NOPE"], ["none"], [], ["token", "deeper"]]
    assert mask(ATTRS, paths) == ATTRS
    once = mask(ATTRS, [["token"]])
    assert mask(once, [["token"]]) == once  # a marker is not masked again
    assert mask(ATTRS, [["keys"]])["keys"] == marker(["first", "middle", "last"])  # a whole list


def test_sensitive_outputs_are_masked_others_kept() -> None:
    outs = {"url": {"value": "http://x", "sensitive": False}, "tok": {"value": "t", "sensitive": True}}
    assert mask_outputs(outs) == {"url": {"value": "http://x", "sensitive": False},
                                  "tok": {"value": marker("t"), "sensitive": True}}
    plain = {"url": {"value": "http://x", "sensitive": False}}
    assert mask_outputs(plain) is plain


def test_unmask_gives_back_only_values_that_match_their_digest() -> None:
    stored = mask(ATTRS, [["token"], ["env", "KEY"], ["keys", 0], ["keys", 2]])
    assert unmask(stored, ATTRS) == ATTRS  # the same configuration: no change
    changed = {**ATTRS, "token": "rotated", "keys": ["first", "middle", "other"]}
    back = unmask(stored, changed)
    assert back["token"] == marker("s3cret")  # a changed secret stays a marker: an update
    assert back["keys"] == ["first", "middle", marker("last")]
    assert back["env"] == {"KEY": "k1", "PLAIN": "p"}
    assert unmask(stored, {**ATTRS, "keys": ["first"]})["keys"] == ["first", "middle", marker("last")]
    assert unmask(stored, {"token": None})["token"] == marker("s3cret")
    assert unmask(stored, {"token": marker("s3cret")})["token"] == marker("s3cret")
    assert unmask(stored, "not a map") == stored


def test_markers_are_found_anywhere() -> None:
    assert contains_marker(marker("x"))
    assert contains_marker({"a": {"b": [1, marker("x")]}})
    assert contains_marker([[marker("x")]])
    assert not contains_marker({"a": {"b": [1, {"c": "x"}]}})
    assert not contains_marker([]) and not contains_marker("x") and not contains_marker({MARKER: "h", "x": 1})
