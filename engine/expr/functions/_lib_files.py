"""File functions: file, filesha256, filebase64, templatefile.

Relative paths resolve against :attr:`FunctionContext.base_dir` (the
configuration directory); ``~`` expands to the home directory, as in
Terraform. Errors name both the path as written and where it was looked for.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pathlib
from typing import Any, NoReturn

from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
    arg_string,
    fail,
)


def _resolve(ctx: FunctionContext, path: Any) -> tuple[str, pathlib.Path]:
    given = arg_string(path, 0, "path")
    if "\0" in given:
        fail(0, "path", f"{given!r} contains a NUL byte, which no file name can hold.")
    p = pathlib.Path(os.path.expanduser(given))
    if not p.is_absolute():
        p = ctx.base_dir / p
    return given, p


def _read(ctx: FunctionContext, path: Any) -> tuple[str, pathlib.Path, bytes]:
    given, resolved = _resolve(ctx, path)
    try:
        return given, resolved, resolved.read_bytes()
    except FileNotFoundError:
        fail(0, "path", f'no file exists at "{given}" (looked for {resolved}); this function works only '
                        "with files that are distributed as part of the configuration source code, so if "
                        "this file will be created by a resource in this configuration you must instead "
                        "obtain this result from an attribute of that resource.")
    except IsADirectoryError:
        fail(0, "path", f'"{given}" is a directory, not a file (resolved to {resolved}).')
    except OSError as exc:
        fail(0, "path", f'failed to read "{given}" ({resolved}): {exc.strerror or exc}.')


def _not_utf8(given: str) -> NoReturn:
    raise FunctionError(
        f'contents of "{given}" are not valid UTF-8; use the filebase64 function to obtain the Base64 '
        "encoded contents or filesha256 to obtain a hash of the file instead.", 0)


def _text(ctx: FunctionContext, path: Any) -> tuple[pathlib.Path, str]:
    given, resolved, data = _read(ctx, path)
    try:
        return resolved, data.decode("utf-8")
    except UnicodeDecodeError:
        _not_utf8(given)


def _file(ctx: FunctionContext, path: Any) -> str:
    return _text(ctx, path)[1]


def _filesha256(ctx: FunctionContext, path: Any) -> str:
    return hashlib.sha256(_read(ctx, path)[2]).hexdigest()


def _filebase64(ctx: FunctionContext, path: Any) -> str:
    return base64.b64encode(_read(ctx, path)[2]).decode("ascii")


def _valid_identifier(name: str) -> bool:
    # HCL identifiers: a letter or underscore, then letters, digits, "_" or "-".
    return bool(name) and name[0].isidentifier() and all(c == "-" or ("a" + c).isidentifier() for c in name[1:])


def _templatefile(ctx: FunctionContext, path: Any, variables: Any) -> Any:
    if variables is None:
        fail(1, "vars", "argument must not be null; pass {} for a template without variables.")
    if not isinstance(variables, dict):
        fail(1, "vars", "invalid vars value: must be a map.")
    for name in variables:
        if not _valid_identifier(name):
            fail(1, "vars", f'invalid template variable name "{name}": must start with a letter, followed '
                            "by zero or more letters, digits, and underscores.")
    resolved, text = _text(ctx, path)
    if ctx.render_template is None:
        raise FunctionError("templatefile() cannot be used here: no template renderer is available in "
                            "this context.")
    return ctx.render_template(text, dict(variables), str(resolved))


SPECS = [
    FunctionSpec("file", _file, 1, 1, False, "The contents of a UTF-8 text file.", ("path",)),
    FunctionSpec("filesha256", _filesha256, 1, 1, False,
                 "The SHA-256 digest of a file's bytes, as lowercase hex.", ("path",)),
    FunctionSpec("filebase64", _filebase64, 1, 1, False, "The contents of a file, Base64-encoded.", ("path",)),
    FunctionSpec("templatefile", _templatefile, 2, 2, False,
                 "Renders a template file with the given variables.", ("path", "vars")),
]
