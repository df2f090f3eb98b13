"""Progress of an apply, drawn for the place it is read.

The applier reports ``(address, message)``; a message may be a
:class:`~mlform.engine.providers.protocol.ProgressEvent`, a line that also
carries figures (records of an eval suite, traffic percent, live error rate
and p99, seconds of a bake). Two renderers:

- :class:`LineProgress` (CI logs, pipes, tests): one line per event, except
  the counters: an eval suite prints its start, at most one line every
  :data:`LOG_EVERY_S` seconds, and its result; a bake its first poll, at most
  one line every :data:`LOG_EVERY_S` seconds, and its last.
- :class:`LiveProgress` (a terminal): one row per resource in a long step
  (eval suite, server start, traffic step, bake), redrawn in place, cut to
  the terminal's width rather than wrapped; every other message is printed
  above the rows as a line. A suite's row ends in one line with its result,
  a bake's in one line with the figures of its last poll.

:func:`make_progress` picks one: live only when stdout is a terminal.
Colour follows the session (``--no-color``, ``NO_COLOR``); the rows still
draw without colour.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any, Protocol

from mlform.engine.providers.protocol import ProgressEvent

#: In a log, a counter (records of a suite, a bake's polls) prints at most one line this often.
LOG_EVERY_S = 10.0
#: The phases drawn as a live row on a terminal; the counters among them print no line there.
ROW_PHASES = ("start", "gate", "step", "bake", "eval")
COUNTERS = ("bake", "eval")
BAR_WIDTH = 20


class ProgressSink(Protocol):
    """What ``apply_plan(progress=...)`` calls; ``close`` ends the display."""

    def __call__(self, address: str, message: str) -> None: ...

    def close(self) -> None: ...


def _text(address: str, message: str) -> str:
    """The message without its own address: ``eval_suite.x: evaluating 200 records``, not the name twice."""
    for verb in ("evaluating ", "evaluated "):
        if message.startswith(verb + address + ": "):
            return verb + message[len(verb + address + ": "):]
    return str(message)


def _suffix(address: str, message: str, t0: dict[str, float]) -> str:
    now = time.monotonic()
    start = t0.setdefault(address, now)
    return f" [{now - start:.1f}s]" if message in ("Complete", "Failed") else ""


class LineProgress:
    """Lines for a log, with the counters thinned by time (thread-safe)."""

    def __init__(self, color: bool, stream: IO[str] | None = None) -> None:
        self.color = color
        self.stream = stream or sys.stdout
        self.t0: dict[str, float] = {}
        self.last: dict[str, float] = {}  # address -> when its running counter last printed
        self.lock = threading.Lock()

    def __call__(self, address: str, message: str) -> None:
        with self.lock:
            if isinstance(message, ProgressEvent) and message.phase in COUNTERS:
                if not self._due(address, message):
                    return
            else:
                self.last.pop(address, None)  # the next counter's first line always shows
            suffix = _suffix(address, message, self.t0)
            b, r = ("\x1b[1m", "\x1b[0m") if self.color else ("", "")
            self.stream.write(f"{b}{address}{r}: {_text(address, message)}{suffix}\n")
            self.stream.flush()

    def _due(self, address: str, ev: ProgressEvent) -> bool:
        now = time.monotonic()
        last = self.last.get(address)
        if ev.phase == "eval" and ev.total is not None and ev.done == ev.total:
            self.last.pop(address, None)
            return False  # the "evaluated" line that follows says it
        if ev.phase == "bake" and ev.remaining_s is not None and ev.remaining_s <= 0:
            self.last.pop(address, None)
            return True  # a bake's last poll: the figures it was judged on
        if last is None or now - last >= LOG_EVERY_S:
            self.last[address] = now
            return True
        return False

    def close(self) -> None:
        return None


class LiveProgress:
    """Rows redrawn in place for long steps, lines for everything else; for a terminal."""

    def __init__(self, color: bool, stream: IO[str] | None = None, width: int | None = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.color = color
        self.console = Console(file=stream or sys.stdout, no_color=not color, highlight=False,
                               force_terminal=True, width=width)
        self.rows: dict[str, tuple[ProgressEvent, float]] = {}  # address -> (latest event, since)
        self.live = Live(console=self.console, get_renderable=self._render, transient=True,
                         refresh_per_second=8)
        self.t0: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = False

    def __call__(self, address: str, message: str) -> None:
        from rich.text import Text

        with self.lock:
            if isinstance(message, ProgressEvent) and message.phase in ROW_PHASES:
                if not self.started:
                    self.live.start()
                    self.started = True
                since = self.rows[address][1] if address in self.rows and \
                    self.rows[address][0].phase == message.phase else time.monotonic()
                self.rows[address] = (message, since)
                last_poll = message.phase == "bake" and message.remaining_s is not None and message.remaining_s <= 0
                if message.phase in COUNTERS and not last_poll:
                    return  # the row shows it; a line per update would scroll the rows away
            else:
                self.rows.pop(address, None)  # done, rolled back, evaluated, Complete, Failed: the row ends
            line = Text.assemble((address, "bold" if self.color else ""), ": ", _text(address, message),
                                 _suffix(address, message, self.t0))
            self.console.print(line)  # above the rows, which rich draws again below it

    def _render(self) -> Any:
        from rich.console import Group

        rows = self.rows.copy()  # no lock: the printing thread holds it while rich holds its own
        now = time.monotonic()
        return Group(*(self._row(a, ev, now - since) for a, (ev, since) in rows.items()))

    def _row(self, address: str, ev: ProgressEvent, elapsed: float) -> Any:
        from rich.text import Text

        width = self.console.width
        row = Text.assemble((address, "bold" if self.color else ""), ": ", _text(address, ev))
        fraction = None
        if ev.phase == "eval" and ev.total:
            fraction = (ev.done or 0) / ev.total
        elif ev.phase == "bake" and ev.total_s:
            fraction = 1.0 - (ev.remaining_s or 0.0) / ev.total_s
        if fraction is None:
            row.append(f" {elapsed:.0f}s")  # an open-ended wait: how long it has taken
        else:
            bar = min(BAR_WIDTH, width - row.cell_len - 1)
            if bar >= 5:
                filled = round(max(0.0, min(1.0, fraction)) * bar)
                row.append(" ")
                row.append("█" * filled, style="green" if self.color else "")
                row.append("░" * (bar - filled), style="dim" if self.color else "")
        row.no_wrap, row.overflow = True, "ellipsis"
        row.truncate(width, overflow="ellipsis")  # a narrow terminal cuts the row, never wraps it
        return row

    def close(self) -> None:
        with self.lock:
            if self.started:
                self.live.stop()
                self.started = False


def make_progress(color: bool, stream: IO[str] | None = None, *,
                  tty: bool | None = None) -> LineProgress | LiveProgress:
    """Live rows when ``stream`` (stdout) is a terminal and ``TERM`` is not dumb, plain lines otherwise.

    ``tty`` overrides the terminal check (tests).
    """
    out = stream or sys.stdout
    live = (out.isatty() if tty is None else tty) and os.environ.get("TERM", "") != "dumb" \
        and os.environ.get("MLFORM_PROGRESS") != "plain"
    return LiveProgress(color, out) if live else LineProgress(color, out)
