"""Render diagnostics for people (and as JSON)."""

from __future__ import annotations

import json
import sys
from typing import IO, Iterable

from mlform.engine.diagnostics import Diagnostic, SourceCache


def render(diags: Iterable[Diagnostic], sources: dict[str, str] | None = None, color: bool = False,
           out: IO[str] | None = None) -> None:
    out = out or sys.stderr
    cache = SourceCache(dict(sources or {}))
    for d in diags:
        red, yel, bold, reset = ("\x1b[31m", "\x1b[33m", "\x1b[1m", "\x1b[0m") if color else ("", "", "", "")
        tag = f"{red}Error{reset}" if d.is_error else f"{yel}Warning{reset}"
        out.write(f"\n{tag}: {bold}{d.summary}{reset}\n")
        if d.range is not None:
            r = d.range
            out.write(f"\n  on {r.filename}:{r.start.line}:{r.start.col}:\n")
            line = cache.line(r.filename, r.start.line)
            if line is not None:
                out.write(f"  {r.start.line:>3}: {line}\n")
                caret = " " * (len(f"  {r.start.line:>3}: ") + max(r.start.col - 1, 0))
                width = (r.end.col - r.start.col) if r.end.line == r.start.line and r.end.col > r.start.col else 1
                out.write(caret + "^" * min(width, max(1, len(line) - r.start.col + 1)) + "\n")
        if d.address:
            # The location is the block's; the address says which of its instances
            # (endpoint.e[3]) this is about, as Terraform's "with" line does.
            out.write(f"\n  with {d.address}\n")
        if d.detail:
            out.write("\n" + "\n".join("  " + x if x else "" for x in d.detail.splitlines()) + "\n")
    out.flush()


def to_json(diags: Iterable[Diagnostic]) -> str:
    ds = list(diags)
    return json.dumps({
        "valid": not any(d.is_error for d in ds),
        "error_count": sum(1 for d in ds if d.is_error),
        "warning_count": sum(1 for d in ds if not d.is_error),
        "diagnostics": [d.to_json() for d in ds],
    }, indent=2)
