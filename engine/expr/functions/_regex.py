"""Go's ``regexp`` replacement semantics for ``replace(s, "/re/", r)``.

* ``ReplaceAllString`` skips an empty match right after a previous match and
  always moves on by at least one character (Python's ``re.sub`` differs);
* the replacement expands ``$1``, ``${1}``, ``$name``, ``${name}`` and
  ``$$``; ``$1x`` names the group ``1x``, and unknown groups expand to "".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mlform.engine.expr.functions._re2 import RegexError, translate

__all__ = ["GoRegex", "RegexError", "compile_go", "replace_all"]


@dataclass(frozen=True)
class GoRegex:
    """A compiled Go pattern and its group names (first group of each name)."""

    rx: re.Pattern[str]
    names: dict[str, int]


@lru_cache(maxsize=256)
def compile_go(pattern: str) -> GoRegex:
    """Compile a Go regular expression; raises :class:`RegexError`."""
    translated, names = translate(pattern)
    try:
        return GoRegex(re.compile(translated), names)
    except re.error as exc:  # pragma: no cover - translation should prevent this
        raise RegexError(f"error parsing regexp: {exc}") from None


def _expand(template: str, m: re.Match[str], names: dict[str, int]) -> str:
    """Go's ``Regexp.Expand`` of ``template`` for one match."""
    out: list[str] = []
    i = 0
    while i < len(template):
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        rest = template[j + 1:]
        if rest.startswith("$"):
            out.append("$")
            i = j + 2
            continue
        braced = rest.startswith("{")
        nm = re.match(r"\{([A-Za-z0-9_]+)\}" if braced else r"[A-Za-z0-9_]+", rest)
        if not nm:
            out.append("$")
            i = j + 1
            continue
        name = nm.group(1) if braced else nm.group(0)
        i = j + 1 + nm.end()
        if name.isdigit() and not (len(name) > 1 and name[0] == "0") and len(name) < 9:
            idx = int(name)
            if idx <= m.re.groups:
                out.append(m.group(idx) or "")
        elif name in names:
            out.append(m.group(names[name]) or "")
    return "".join(out)


def replace_all(regex: GoRegex, s: str, template: str) -> str:
    """Go's ``ReplaceAllString``: every match of ``rx`` replaced by ``template``.

    As in Go, an empty match right after the previous match is not replaced,
    and the search always moves on by at least one character.
    """
    rx = regex.rx
    out: list[str] = []
    last = 0
    pos = 0
    while pos <= len(s):
        m = rx.search(s, pos)
        if m is None:
            break
        out.append(s[last:m.start()])
        if m.end() > last or m.start() == 0:
            out.append(_expand(template, m, regex.names))
        last = m.end()
        pos = max(m.end(), pos + 1)
    out.append(s[last:])
    return "".join(out)
