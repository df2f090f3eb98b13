"""Encoding functions: jsonencode, jsondecode, yamldecode, base64encode,
base64decode, sha256."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from mlform.engine.expr.functions import _json, _yaml
from mlform.engine.expr.functions._core import (
    FunctionContext,
    FunctionError,
    FunctionSpec,
    arg_string,
)


def _jsonencode(ctx: FunctionContext, val: Any) -> str:
    try:
        return _json.encode(val)
    except _json.JSONEncodeError as exc:
        raise FunctionError(f'Invalid value for "val" parameter: {exc}.', 0) from None


def _jsondecode(ctx: FunctionContext, s: Any) -> Any:
    text = arg_string(s, 0, "str")
    try:
        return _json.decode(text)
    except (ValueError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FunctionError(f"invalid JSON: {detail}.", 0) from None


def _yamldecode(ctx: FunctionContext, src: Any) -> Any:
    text = arg_string(src, 0, "src")
    try:
        return _yaml.decode(text)
    except (_yaml.YAMLDecodeError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise FunctionError(f"invalid YAML: {detail}.", 0) from None


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")


def _base64encode(ctx: FunctionContext, s: Any) -> str:
    return base64.b64encode(_utf8(arg_string(s, 0, "str"))).decode("ascii")


def _base64decode(ctx: FunctionContext, s: Any) -> str:
    text = arg_string(s, 0, "str")
    try:
        # Go's decoder skips line breaks but nothing else.
        data = base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise FunctionError(
            f'failed to decode base64 data "{text}": it must be standard Base64 with "=" padding.', 0) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FunctionError(
            "the result of decoding the provided string is not valid UTF-8; "
            "only Base64 of UTF-8 text can be decoded to a string.", 0) from None


def _sha256(ctx: FunctionContext, s: Any) -> str:
    return hashlib.sha256(_utf8(arg_string(s, 0, "str"))).hexdigest()


SPECS = [
    FunctionSpec("jsonencode", _jsonencode, 1, 1, False,
                 "Encodes a value as compact JSON with sorted keys, as Terraform does.", ("val",)),
    FunctionSpec("jsondecode", _jsondecode, 1, 1, False, "Parses a JSON string into a value.", ("str",)),
    FunctionSpec("yamldecode", _yamldecode, 1, 1, False,
                 "Parses a single YAML document into a value.", ("src",)),
    FunctionSpec("base64encode", _base64encode, 1, 1, False,
                 "Encodes the UTF-8 bytes of a string as standard Base64.", ("str",)),
    FunctionSpec("base64decode", _base64decode, 1, 1, False,
                 "Decodes standard Base64 into a UTF-8 string.", ("str",)),
    FunctionSpec("sha256", _sha256, 1, 1, False,
                 "The SHA-256 digest of the UTF-8 bytes of a string, as lowercase hex.", ("str",)),
]
