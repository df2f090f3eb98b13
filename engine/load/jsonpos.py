"""JSON with source positions: each value and object key knows its ``line:col`` range.

``json.loads`` throws positions away, so ``*.mlf.json`` diagnostics pointed at
1:1. This scanner reads text that ``json.loads`` has already accepted (syntax
errors are reported from there) and returns :class:`Node` trees whose ranges
diagnostics can point at. Strings and numbers are decoded by the standard
library's own scanners, so values are exactly what ``json.loads`` returns;
a repeated key keeps its last value, as ``json.loads`` does.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from typing import Any

from mlform.engine.diagnostics import Pos, SourceRange

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?")
_LITERALS = {"true": True, "false": False, "null": None,  # json.loads also accepts the last three
             "NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


@dataclass
class Node:
    """A JSON value with its range. ``value``: a scalar, a list of nodes, or a dict
    of key -> (key range, node)."""

    value: Any
    rng: SourceRange

    def plain(self) -> Any:
        """The value without positions (as ``json.loads`` returns it)."""
        if isinstance(self.value, list):
            return [x.plain() for x in self.value]
        if isinstance(self.value, dict):
            return {k: n.plain() for k, (_, n) in self.value.items()}
        return self.value


class _Scanner:
    def __init__(self, text: str, filename: str) -> None:
        self.text, self.filename = text, filename
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def pos(self, offset: int) -> Pos:
        i = bisect.bisect_right(self.line_starts, offset) - 1
        return Pos(i + 1, offset - self.line_starts[i] + 1)

    def rng(self, start: int, end: int) -> SourceRange:
        return SourceRange(self.filename, self.pos(start), self.pos(end))

    def ws(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def value(self, i: int) -> tuple[Node, int]:
        i = self.ws(i)
        c = self.text[i]
        if c == "{":
            return self.obj(i)
        if c == "[":
            return self.arr(i)
        if c == '"':
            s, end = json.decoder.scanstring(self.text, i + 1)  # type: ignore[attr-defined]
            return Node(s, self.rng(i, end)), end
        for word, lit in _LITERALS.items():
            if self.text.startswith(word, i):
                return Node(lit, self.rng(i, i + len(word))), i + len(word)
        m = _NUMBER.match(self.text, i)
        if m is None:
            raise ValueError(f"unexpected {c!r} at {self.pos(i)}")  # json.loads accepted it: a bug here
        num: Any = float(m.group()) if (m.group(1) or m.group(2)) else int(m.group())
        return Node(num, self.rng(i, m.end())), m.end()

    def obj(self, start: int) -> tuple[Node, int]:
        items: dict[str, tuple[SourceRange, Node]] = {}
        i = self.ws(start + 1)
        if self.text[i] == "}":
            return Node(items, self.rng(start, i + 1)), i + 1
        while True:
            i = self.ws(i)
            key, kend = json.decoder.scanstring(self.text, i + 1)  # type: ignore[attr-defined]
            krng = self.rng(i, kend)
            i = self.ws(kend) + 1  # the colon
            node, i = self.value(i)
            items.pop(key, None)  # the last of a repeated key wins, in its own place
            items[key] = (krng, node)
            i = self.ws(i)
            if self.text[i] == "}":
                return Node(items, self.rng(start, i + 1)), i + 1
            i += 1  # the comma

    def arr(self, start: int) -> tuple[Node, int]:
        items: list[Node] = []
        i = self.ws(start + 1)
        if self.text[i] == "]":
            return Node(items, self.rng(start, i + 1)), i + 1
        while True:
            node, i = self.value(i)
            items.append(node)
            i = self.ws(i)
            if self.text[i] == "]":
                return Node(items, self.rng(start, i + 1)), i + 1
            i += 1


def parse(text: str, filename: str) -> Node:
    """Positions for ``text``, which ``json.loads`` must already have accepted."""
    node, _ = _Scanner(text, filename).value(0)
    return node


__all__ = ["Node", "parse"]
