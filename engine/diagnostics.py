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
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

if TYPE_CHECKING:
    from mlform.engine.config.model import Config


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


def attach_to_source(d: Diagnostic, cfg: "Config", address: str, path: AttrPath | None = None) -> Diagnostic:
    """Place a provider's diagnostic at its source: the range of the attribute (or nested block)
    ``path`` names inside the block of ``address``, else the block itself. ``d.address`` becomes
    ``address`` when unset; a diagnostic that already has a range keeps it. Returns ``d``."""
    d.address = d.address or address
    if d.range is not None:
        return d
    r = cfg.resources.get(address.split("[", 1)[0])
    if r is None:
        return d
    d.range = r.rng
    if path:
        body = r.body
        steps = list(path)
        for i, step in enumerate(steps):
            if isinstance(step, int):
                continue  # consumed with the block type before it
            if step in body.attributes:
                d.range = body.attributes[step].expr.rng
                break
            # ("assert", 2, ...) is the third assert block; ("assert", ...) the first.
            nth = steps[i + 1] if i + 1 < len(steps) and isinstance(steps[i + 1], int) else 0
            nb = next((b for j, b in enumerate(x for x in body.blocks if x.type == step) if j == nth), None)
            if nb is None:
                break
            d.range, body = nb.rng, nb.body
    return d


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
