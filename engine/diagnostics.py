"""Diagnostics: how mlform tells a person what went wrong and what to do.

A user mistake is never an exception that escapes to the terminal. Each phase
(load, resolve, graph, plan, apply) collects :class:`Diagnostic` objects and
returns them together; the CLI renders them (``Error: ...`` / ``Warning: ...``,
``on file:line:col:``, the source line, then the detail) and picks the exit
code.

Exception tree (only for unwinding out of deep code with diagnostics attached)::

    MlformError
    └── DiagnosticsError      carries a Diagnostics list; the CLI renders it
        └── PolicyRefused     a hard/soft mandatory policy blocked the plan (exit 3)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator, Sequence


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Pos:
    """A 1-based line and column in a source file."""

    line: int
    col: int


@dataclass(frozen=True, slots=True)
class SourceRange:
    """Where something is written: ``file:line:col`` to an end position."""

    filename: str
    start: Pos
    end: Pos

    def __str__(self) -> str:
        return f"{self.filename}:{self.start.line}:{self.start.col}"

    def to_json(self) -> dict[str, object]:
        return {
            "filename": self.filename,
            "start": {"line": self.start.line, "column": self.start.col},
            "end": {"line": self.end.line, "column": self.end.col},
        }


AttrPath = tuple[str | int, ...]


@dataclass(slots=True)
class Diagnostic:
    """One finding: severity, a one-line summary, what to do, and where.

    Providers fill ``attribute_path`` (a path inside the resource's config,
    e.g. ``("constraints", "p99_latency_ms")``) rather than a source range; the
    engine maps the path to the range in the user's file.
    """

    severity: Severity
    summary: str
    detail: str = ""
    range: SourceRange | None = None
    attribute_path: AttrPath | None = None
    address: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity.value,
            "summary": self.summary,
            "detail": self.detail,
        }
        if self.range is not None:
            out["range"] = self.range.to_json()
        if self.address:
            out["address"] = self.address
        return out


def error(summary: str, detail: str = "", rng: SourceRange | None = None, *,
          path: AttrPath | None = None, address: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.ERROR, summary, detail, rng, path, address)


def warning(summary: str, detail: str = "", rng: SourceRange | None = None, *,
            path: AttrPath | None = None, address: str | None = None) -> Diagnostic:
    return Diagnostic(Severity.WARNING, summary, detail, rng, path, address)


class Diagnostics:
    """An ordered collection of diagnostics from one or more phases."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = list(items)

    def append(self, d: Diagnostic) -> None:
        self._items.append(d)

    def extend(self, ds: Iterable[Diagnostic]) -> None:
        self._items.extend(ds)

    def error(self, summary: str, detail: str = "", rng: SourceRange | None = None, **kw: object) -> None:
        self._items.append(error(summary, detail, rng, **kw))  # type: ignore[arg-type]

    def warning(self, summary: str, detail: str = "", rng: SourceRange | None = None, **kw: object) -> None:
        self._items.append(warning(summary, detail, rng, **kw))  # type: ignore[arg-type]

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self._items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self._items if d.is_error]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def raise_if_errors(self) -> None:
        if self.has_errors:
            raise DiagnosticsError(self)


class MlformError(Exception):
    """Base of mlform's exceptions."""


class DiagnosticsError(MlformError):
    """Unwinds with diagnostics attached; the CLI renders them and exits 1."""

    def __init__(self, diags: Diagnostics | Sequence[Diagnostic] | Diagnostic) -> None:
        if isinstance(diags, Diagnostic):
            diags = Diagnostics([diags])
        elif not isinstance(diags, Diagnostics):
            diags = Diagnostics(diags)
        self.diagnostics = diags
        first = next(iter(diags), None)
        super().__init__(first.summary if first else "error")


class PolicyRefused(DiagnosticsError):
    """A mandatory policy refused the plan (exit code 3)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``Did you mean "x"?`` for the closest candidate, or an empty string."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' Did you mean "{match[0]}"?' if match else ""


@dataclass
class SourceCache:
    """File contents by name, for printing the offending source line."""

    files: dict[str, str] = field(default_factory=dict)

    def line(self, filename: str, line: int) -> str | None:
        text = self.files.get(filename)
        if text is None:
            try:
                with open(filename, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                return None
            self.files[filename] = text
        lines = text.splitlines()
        if 1 <= line <= len(lines):
            return lines[line - 1]
        return None
