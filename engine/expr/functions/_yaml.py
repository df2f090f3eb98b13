"""``yamldecode()``: YAML read the way Terraform reads it.

PyYAML parses the text into nodes; resolving plain scalars to values follows
Terraform's YAML library (go-cty-yaml), which is neither YAML 1.1 nor 1.2:

* bools are YAML 1.1's ``y``/``yes``/``on``/``true`` (and ``n``/``no``/
  ``off``/``false``) in lower, Capitalized or UPPER case;
* integers are YAML 1.2's: decimal (``017`` is 17), ``0o17``, ``0x1F``;
  ``1_000`` and ``0b101`` stay strings; floats like ``1.5e3``, ``.inf``;
  ``.nan`` is an error;
* timestamps become RFC 3339 strings without fractional seconds
  (``2001-12-14`` is ``"2001-12-14T00:00:00Z"``);
* quoted scalars are always strings, even when tagged (``!!int '5'``);
* mapping keys become strings (``1: a`` has key ``"1"``); a null key is an
  error; ``<<`` merges one mapping in place, later keys winning;
* exactly one document.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]
from mlform.engine.expr.functions._numbers import (
    NumberParseError,
    number_to_string,
    parse_number,
)
from mlform.engine.expr.functions._text import nfc
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode  # type: ignore[import-untyped,unused-ignore]

_TAG = "tag:yaml.org,2002:"
_STR, _BINARY, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP = (
    _TAG + t for t in ("str", "binary", "bool", "int", "float", "null", "timestamp"))
_SEQ, _MAP = _TAG + "seq", _TAG + "map"
_RESOLVABLE = {"", _STR, _BOOL, _INT, _FLOAT, _NULL, _TIMESTAMP, _BINARY}

_WORDS: dict[str, Any] = {}
for _words, _value in (
    ("y Y yes Yes YES true True TRUE on On ON", True),
    ("n N no No NO false False FALSE off Off OFF", False),
    ("~ null Null NULL", None),
    (".inf .Inf .INF +.inf +.Inf +.INF", math.inf),
    ("-.inf -.Inf -.INF", -math.inf),
):
    for _w in _words.split():
        _WORDS[_w] = _value
_WORDS[""] = None
_HINTS = frozenset("+-0123456789yYnNtTfFoO~.")

_INTEGER_RX = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT_RX = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_TIME = r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:[.,]\d+)?"
_TIMESTAMPS = (
    re.compile(_DATE + r"[Tt]" + _TIME + r"(Z|[+-]\d{2}:\d{2})"),
    re.compile(_DATE + " " + _TIME),
    re.compile(_DATE),
)
_MAX_NODES = 1_000_000  # guards against alias bombs ("billion laughs")


class YAMLDecodeError(ValueError):
    """YAML that Terraform would not accept."""


class _Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """A loader that leaves every implicit tag empty; we resolve scalars ourselves."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        return ""


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _timestamp(src: str) -> str | None:
    """``src`` as an RFC 3339 string if it is a timestamp Go's parser accepts."""
    for i, rx in enumerate(_TIMESTAMPS):
        m = rx.fullmatch(src)
        if not m:
            continue
        g = m.groups()
        year, month, day = int(g[0]), int(g[1]), int(g[2])
        if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
            continue
        hour = minute = second = 0
        zone = "Z"
        if i < 2:
            hour, minute, second = int(g[3]), int(g[4]), int(g[5])
            if hour > 23 or minute > 59 or second > 59:
                continue
        if i == 0 and g[6] != "Z":
            zh, zm = int(g[6][1:3]), int(g[6][4:6])
            if zh > 24 or zm > 60:
                continue
            if zh or zm:
                zone = g[6]
        return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{zone}"
    return None


def _number(src: str, tag: str) -> int | float:
    plain = src.replace("_", "")
    try:
        return parse_number(plain)
    except NumberParseError:
        pass
    m = re.fullmatch(r"([-+]?)0([xXoObB])([0-9a-fA-F]+)", plain)
    if m:
        try:
            n = int(m.group(3), {"x": 16, "o": 8, "b": 2}[m.group(2).lower()])
        except ValueError:
            n = None
        if n is not None and n < 2 ** 64:
            return -n if m.group(1) == "-" else n
    raise YAMLDecodeError(f'cannot parse "{src}" as {tag}')


def _scalar(node: ScalarNode) -> Any:
    tag, src = node.tag, node.value
    if tag not in _RESOLVABLE:
        raise YAMLDecodeError(f'unsupported tag "{tag}"')
    if tag not in (_STR, _BINARY) and (not src or src[0] in _HINTS):
        if node.style in ("'", '"'):
            return src
        if src in _WORDS:
            return _WORDS[src]
        if tag == "" and src in (".nan", ".NaN", ".NAN"):
            raise YAMLDecodeError("floating point NaN is not supported")
        if src[0] not in "yYnNtTfFoO~.":
            if tag in ("", _TIMESTAMP):
                ts = _timestamp(src)
                if ts is not None:
                    return ts
            if _INTEGER_RX.fullmatch(src):
                tag = _INT
            elif _FLOAT_RX.fullmatch(src):
                tag = _FLOAT
        elif src[0] == ".":
            try:
                return parse_number(src)
            except NumberParseError:
                pass
    if tag == "" and src == "<<":
        return _MERGE
    if tag in ("", _STR):
        return src
    if tag == _BINARY:
        try:
            base64.b64decode(src.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            raise YAMLDecodeError(f'cannot parse "{src}" as {tag}: not valid base64') from None
        return src
    if tag == _BOOL:
        if src in _WORDS and isinstance(_WORDS[src], bool):
            return _WORDS[src]
        raise YAMLDecodeError(f'cannot parse "{src}" as {tag}')
    if tag in (_INT, _FLOAT):
        return _number(src, tag)
    if tag == _TIMESTAMP:
        ts = _timestamp(src)
        if ts is None:
            raise YAMLDecodeError(f'cannot parse "{src}" as {tag}')
        return ts
    return None  # _NULL


class _Merge:
    """The ``<<`` merge key."""


_MERGE = _Merge()


class _Converter:
    def __init__(self) -> None:
        self.active: set[int] = set()
        self.count = 0

    def convert(self, node: Node) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise YAMLDecodeError("the document expands to too many values (are aliases nested too deeply?)")
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if id(node) in self.active:
            raise YAMLDecodeError("cannot refer to an anchor from inside its own definition")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag not in ("", _SEQ):
                    raise _at(node, f"can't interpret sequence as {node.tag}")
                return [self.convert(n) for n in node.value]
            assert isinstance(node, MappingNode)
            if node.tag not in ("", _MAP):
                raise _at(node, f"can't interpret mapping as {node.tag}")
            return self.mapping(node)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            value = self.convert(value_node)
            if key is _MERGE:
                if not isinstance(value, dict):
                    raise _at(key_node, f"cannot merge {_type_word(value)} into mapping")
                out.update(value)
                continue
            if key is None:
                raise _at(key_node, "mapping key cannot be null")
            if isinstance(key, (list, dict)):
                raise _at(key_node, "only strings are allowed as mapping keys")
            if isinstance(key, bool):
                key = "true" if key else "false"
            elif not isinstance(key, str):
                key = number_to_string(key)
            out[nfc(key)] = value
        return out


def _type_word(v: Any) -> str:
    if isinstance(v, list):
        return "tuple"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    return "null"


def _at(node: Node, message: str) -> YAMLDecodeError:
    mark = node.start_mark
    return YAMLDecodeError(f"on line {mark.line + 1}, column {mark.column + 1}: {message}")


def decode(text: str) -> Any:
    """Parse one YAML document; raises :class:`YAMLDecodeError`."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "expected a single document" in str(exc.context):
                mark = exc.problem_mark
                where = f"on line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
                raise YAMLDecodeError(f"{where}unexpected extra content after value") from None
            raise _yaml_error(exc) from None
        except yaml.YAMLError as exc:
            raise _yaml_error(exc) from None
    finally:
        loader.dispose()
    if node is None:
        raise YAMLDecodeError("on line 1, column 1: missing start of document (the text has no YAML value)")
    return _Converter().convert(node)


def _yaml_error(exc: yaml.YAMLError) -> YAMLDecodeError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if mark is not None:
            return YAMLDecodeError(f"on line {mark.line + 1}, column {mark.column + 1}: {problem}")
        return YAMLDecodeError(str(problem))
    return YAMLDecodeError(str(exc))
