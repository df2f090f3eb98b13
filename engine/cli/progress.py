"""Progress of an apply, drawn for the place it is read.

The applier reports ``(address, message)``; a message may be a
:class:`~mlform.engine.providers.protocol.ProgressEvent`, a line that also
carries figures (traffic percent, live error rate and p99, seconds left of a
bake). Two renderers:

- :class:`LineProgress` (CI logs, pipes, tests): one line per event, with a
  bake's once-per-poll updates thinned to one every few seconds plus the last.
- :class:`LiveProgress` (a terminal): rich bars, one per resource in a long
  step (server start, traffic step, bake countdown) with the live figures;
  every other message is printed above the bars as a line.

:func:`make_progress` picks one: live only when stdout is a terminal.
Colour follows the session (``--no-color``, ``NO_COLOR``); the live bars
still draw without colour.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any, Protocol

from mlform.engine.providers.protocol import ProgressEvent

BAKE_LINE_EVERY_S = 5.0


class ProgressSink(Protocol):
    """What ``apply_plan(progress=...)`` calls; ``close`` ends the display."""

    def __call__(self, address: str, message: str) -> None: ...

    def close(self) -> None: ...


def _suffix(address: str, message: str, t0: dict[str, float]) -> str:
    now = time.monotonic()
    start = t0.setdefault(address, now)
    return f" [{now - start:.1f}s]" if message in ("Complete", "Failed") else ""


class LineProgress:
    """One line per resource event, with elapsed time on completion (thread-safe)."""

    def __init__(self, color: bool, stream: IO[str] | None = None) -> None:
        self.color = color
        self.stream = stream or sys.stdout
        self.t0: dict[str, float] = {}
        self.last_bake: dict[str, float] = {}
        self.lock = threading.Lock()

    def __call__(self, address: str, message: str) -> None:
        with self.lock:
            if isinstance(message, ProgressEvent) and message.phase == "bake" and not self._due(address, message):
                return
            suffix = _suffix(address, message, self.t0)
            b, r = ("\x1b[1m", "\x1b[0m") if self.color else ("", "")
            self.stream.write(f"{b}{address}{r}: {message}{suffix}\n")
            self.stream.flush()

    def _due(self, address: str, ev: ProgressEvent) -> bool:
        now = time.monotonic()
        last = self.last_bake.get(address)
        done = ev.remaining_s is not None and ev.remaining_s <= 0
        if last is None or done or now - last >= BAKE_LINE_EVERY_S:
            self.last_bake[address] = -1e9 if done else now  # the next step's first line always shows
            return True
        return False

    def close(self) -> None:
        return None


class LiveProgress:
    """rich bars for long steps, lines for everything else; for a terminal."""

    def __init__(self, color: bool, stream: IO[str] | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(file=stream or sys.stdout, no_color=not color, highlight=False,
                               force_terminal=True)
        self.b = ("[bold]", "[/bold]") if color else ("", "")
        self.bars = Progress(TextColumn(self.b[0] + "{task.fields[address]}" + self.b[1]),
                             TextColumn("{task.description}"), BarColumn(bar_width=24),
                             TextColumn("{task.fields[figures]}"), TimeRemainingColumn(),
                             console=self.console, transient=True, refresh_per_second=8)
        self.tasks: dict[str, Any] = {}
        self.t0: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = False

    def __call__(self, address: str, message: str) -> None:
        with self.lock:
            if isinstance(message, ProgressEvent) and message.phase in ("start", "step", "bake", "gate"):
                self._bar(address, message)
                if message.phase == "bake":
                    return  # the bar shows it; a line per poll would scroll the bars away
            elif (message in ("Complete", "Failed") or getattr(message, "phase", "") == "done") \
                    and address in self.tasks:
                self.bars.remove_task(self.tasks.pop(address))
            suffix = _suffix(address, message, self.t0)
            self.console.print(f"{self.b[0]}{address}{self.b[1]}: {_escape(message)}{suffix}")

    def _bar(self, address: str, ev: ProgressEvent) -> None:
        if not self.started:
            self.bars.start()
            self.started = True
        figures = []
        if ev.requests is not None:
            figures.append(f"{ev.requests} req")
        if ev.error_rate is not None:
            figures.append(f"err {ev.error_rate:.2%}")
        if ev.p99_ms is not None:
            figures.append(f"p99 {ev.p99_ms:.1f} ms")
        if ev.phase == "bake":
            desc = f"{ev.percent:g}% on new, baking {ev.remaining_s or 0:.0f}s left"
            total, done = ev.total_s or 1.0, (ev.total_s or 0.0) - (ev.remaining_s or 0.0)
        elif ev.phase == "step":
            desc, total, done = f"{ev.percent:g}% of traffic on the new version", 100.0, ev.percent or 0.0
        else:
            desc, total, done = _escape(str(ev))[:60], None, 0.0  # start / gate: an open-ended wait
        task = self.tasks.get(address)
        if task is None:
            task = self.tasks[address] = self.bars.add_task(desc, total=total, address=address, figures="")
        self.bars.update(task, description=desc, total=total, completed=done, figures=", ".join(figures))

    def close(self) -> None:
        with self.lock:
            if self.started:
                self.bars.stop()
                self.started = False


def _escape(text: str) -> str:
    from rich.markup import escape
    return escape(text)


def make_progress(color: bool, stream: IO[str] | None = None) -> LineProgress | LiveProgress:
    """Live bars when ``stream`` (stdout) is a terminal and ``TERM`` is not dumb, plain lines otherwise."""
    out = stream or sys.stdout
    live = out.isatty() and os.environ.get("TERM", "") != "dumb" and os.environ.get("MLFORM_PROGRESS") != "plain"
    return LiveProgress(color, out) if live else LineProgress(color, out)
