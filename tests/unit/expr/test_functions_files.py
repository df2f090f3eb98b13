"""file, filesha256, filebase64 and templatefile. Contents and digests marked
"terraform" were checked with Terraform v1.11.4's ``terraform console`` on
the same bytes; the error wording that names the resolved path is mlform's."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function


@pytest.fixture()
def config_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "f.txt").write_bytes(b"hello\n")
    (tmp_path / "crlf.txt").write_bytes("héllo ${x}\r\n".encode())
    (tmp_path / "nfd.txt").write_bytes(b"e\xcc\x81\n")
    (tmp_path / "bad.bin").write_bytes(b"\xff\xfe")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "summarize.tpl").write_text("Summarize in ${max_words} words: ${text}")
    return tmp_path


def call(name: str, *args: Any, base_dir: pathlib.Path, render: Any = None) -> Any:
    return call_function(name, list(args), FunctionContext(base_dir=base_dir, render_template=render))


def test_file_reads_utf8_relative_to_the_config_directory(config_dir: pathlib.Path) -> None:
    assert call("file", "f.txt", base_dir=config_dir) == "hello\n"  # terraform
    assert call("file", "./f.txt", base_dir=config_dir) == "hello\n"  # terraform
    assert call("file", "crlf.txt", base_dir=config_dir) == "héllo ${x}\r\n"  # terraform: no template rendering
    assert call("file", str(config_dir / "f.txt"), base_dir=pathlib.Path("/")) == "hello\n"


def test_file_contents_are_nfc_normalized(config_dir: pathlib.Path) -> None:
    assert call("file", "nfd.txt", base_dir=config_dir) == "\u00e9\n"  # terraform


def test_file_expands_the_home_directory(config_dir: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(config_dir))
    assert call("file", "~/f.txt", base_dir=pathlib.Path("/nonexistent")) == "hello\n"


def test_missing_file_names_the_resolved_path(config_dir: pathlib.Path) -> None:
    with pytest.raises(FunctionError) as exc:
        call("file", "nope.txt", base_dir=config_dir)
    message = str(exc.value)
    assert message.startswith('Invalid value for "path" parameter: no file exists at "nope.txt"')
    assert f"looked for {config_dir / 'nope.txt'}" in message
    assert "obtain this result from an attribute of that resource" in message
    assert exc.value.arg_index == 0


def test_directory_and_binary_files_are_errors(config_dir: pathlib.Path) -> None:
    with pytest.raises(FunctionError, match=r'"prompts" is a directory, not a file \(resolved to .*prompts\)'):
        call("file", "prompts", base_dir=config_dir)
    with pytest.raises(FunctionError, match=r'contents of "bad.bin" are not valid UTF-8; use the filebase64 function'):
        call("file", "bad.bin", base_dir=config_dir)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_is_an_error(config_dir: pathlib.Path) -> None:
    secret = config_dir / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    with pytest.raises(FunctionError, match=r'failed to read "secret.txt" .*Permission denied'):
        call("file", "secret.txt", base_dir=config_dir)


def test_filesha256_and_filebase64_hash_raw_bytes(config_dir: pathlib.Path) -> None:
    # terraform
    assert call("filesha256", "f.txt", base_dir=config_dir) == \
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    assert call("filesha256", "crlf.txt", base_dir=config_dir) == \
        "a7199da7b19c98d79fafd2a63a4bd54928302ae847c5ed63129d1b44d403a4be"
    assert call("filesha256", "nfd.txt", base_dir=config_dir) == \
        "f979a211b00b61497349a7c753652a3d173550a368711a9f9f9845e6383db7cb"  # bytes as stored, not normalized
    assert call("filebase64", "bad.bin", base_dir=config_dir) == "//4="
    with pytest.raises(FunctionError, match=r'no file exists at "nope.txt"'):
        call("filesha256", "nope.txt", base_dir=config_dir)


def test_templatefile_hands_text_vars_and_path_to_the_renderer(config_dir: pathlib.Path) -> None:
    seen: list[tuple[str, dict[str, Any], str]] = []

    def render(text: str, variables: dict[str, Any], filename: str) -> Any:
        seen.append((text, variables, filename))
        return text.replace("${max_words}", str(variables["max_words"])).replace("${text}", variables["text"])

    out = call("templatefile", "prompts/summarize.tpl", {"max_words": 20, "text": "a b c"}, base_dir=config_dir,
               render=render)
    assert out == "Summarize in 20 words: a b c"
    assert seen == [("Summarize in ${max_words} words: ${text}", {"max_words": 20, "text": "a b c"},
                     str(config_dir / "prompts" / "summarize.tpl"))]


def test_templatefile_returns_what_the_renderer_returns(config_dir: pathlib.Path) -> None:
    # A template that is a single interpolation yields that value, not a string.
    assert call("templatefile", "f.txt", {}, base_dir=config_dir, render=lambda t, v, f: [1, 2]) == [1, 2]


@pytest.mark.parametrize(
    ("args", "message", "arg_index"),
    [
        (["nope.tpl", {}], r'"path" parameter: no file exists at "nope.tpl"', 0),
        (["f.txt", {"1a": 1}], r'"vars" parameter: invalid template variable name "1a": must start with a letter', 1),
        (["f.txt", [1]], r'"vars" parameter: invalid vars value: must be a map', 1),
        (["f.txt", None], r'"vars" parameter: argument must not be null', 1),
    ],
)
def test_templatefile_errors(config_dir: pathlib.Path, args: list[Any], message: str, arg_index: int) -> None:
    with pytest.raises(FunctionError, match=message) as exc:
        call("templatefile", *args, base_dir=config_dir, render=lambda t, v, f: t)
    assert exc.value.arg_index == arg_index


def test_templatefile_accepts_hcl_identifiers(config_dir: pathlib.Path) -> None:
    # terraform accepts these variable names too
    assert call("templatefile", "f.txt", {"_a": 1, "a-b": 2, "é": 3}, base_dir=config_dir,
                render=lambda t, v, f: sorted(v)) == ["_a", "a-b", "é"]


def test_templatefile_without_a_renderer_is_an_error(config_dir: pathlib.Path) -> None:
    with pytest.raises(FunctionError, match=r"templatefile\(\) cannot be used here: no template renderer"):
        call("templatefile", "f.txt", {}, base_dir=config_dir)
