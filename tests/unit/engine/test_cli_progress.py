"""Apply progress as printed: a few lines per counter for logs, rows redrawn in place on a terminal."""

from __future__ import annotations

import io
import os
import re
from typing import Callable, Iterator

import pytest

from mlform.engine.cli import progress as P
from mlform.engine.cli.progress import LineProgress, LiveProgress, make_progress
from mlform.engine.providers.protocol import ProgressEvent
from mlform.engine.rollout.controller import bake_line

SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*[1-9][0-9;]*m")


class Clock:
    """A stand-in for time.monotonic that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(P.time, "monotonic", c)
    return c


def suite(name: str, total: int = 200, every: int = 10) -> Iterator[ProgressEvent]:
    """The events an eval suite reports, as engine/rollout/suites.py words them: start, counts, result."""
    yield ProgressEvent(f"evaluating {name}: {total} records", phase="eval", done=0, total=total)
    for done in range(every, total + 1, every):
        yield ProgressEvent(f"evaluating {name}: {done}/{total} records", phase="eval", done=done, total=total)
    yield ProgressEvent(f"evaluated {name}: {total} records in 3.0s, passed (accuracy 0.96)", phase="evaluated",
                        done=total, total=total)


def bake(left: float, total: float = 60.0) -> ProgressEvent:
    return ProgressEvent(bake_line("step 2/3 50%", total - left, total, 40, 0.0, 3.1), phase="bake", percent=50.0,
                         error_rate=0.0, p99_ms=3.1, requests=40, remaining_s=left, total_s=total)


def through_pipe(feed: Callable[[LineProgress | LiveProgress], None]) -> str:
    """Run ``feed`` on the sink make_progress picks for the write end of a real pipe; what came out."""
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream:
        p = make_progress(False, stream)
        assert isinstance(p, LineProgress)  # a pipe is no terminal
        feed(p)
        p.close()
    with os.fdopen(r) as f:
        return f.read()


def screen(raw: str, width: int = 80) -> list[str]:
    """What a terminal shows after ``raw``: carriage returns, newlines, erase-line and cursor-up."""
    rows, y, x = [""], 0, 0
    for tok in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|[^\x1b\r\n]", raw):
        if tok == "\r":
            x = 0
        elif tok == "\n":
            y, x = y + 1, 0
            if y == len(rows):
                rows.append("")
        elif tok.startswith("\x1b["):
            arg, cmd = tok[2:-1], tok[-1]
            if cmd == "K":
                rows[y] = rows[y][:x] if arg in ("", "0") else ""
            elif cmd == "A":
                y = max(0, y - int(arg or 1))
        else:
            assert x < width, f"row {y} wrapped past {width} columns: {rows[y]!r}"
            rows[y] = rows[y][:x].ljust(x) + tok + rows[y][x + 1:]
            x += 1
    return [ln for ln in rows if ln.strip()]


def test_a_log_gets_start_and_result_of_a_fast_200_record_suite(clock: Clock) -> None:
    def feed(p: LineProgress | LiveProgress) -> None:
        p("eval_suite.golden", "Creating...")
        for ev in suite("eval_suite.golden"):
            clock.now += 0.01
            p("eval_suite.golden", ev)
        p("eval_suite.golden", "Complete")

    lines = through_pipe(feed).splitlines()
    assert lines[1:-1] == ["eval_suite.golden: evaluating 200 records",
                           "eval_suite.golden: evaluated 200 records in 3.0s, passed (accuracy 0.96)"]
    assert lines[-1].startswith("eval_suite.golden: Complete [")


def test_a_log_gets_a_slow_suite_at_most_once_per_interval(clock: Clock) -> None:
    step = 2.5  # 200 records over 50 s, 10 at a time

    def feed(p: LineProgress | LiveProgress) -> None:
        for ev in suite("eval_suite.golden"):
            p("eval_suite.golden", ev)
            clock.now += step

    lines = through_pipe(feed).splitlines()
    counts = [ln for ln in lines if re.search(r"evaluating \d+/200 records$", ln)]
    assert 1 <= len(counts) <= 50 / P.LOG_EVERY_S
    assert len(lines) == len(counts) + 2  # and the start and the result
    assert lines[0].endswith("evaluating 200 records") and "evaluated 200 records" in lines[-1]


def test_a_log_thins_the_bake_countdown_and_keeps_its_last_poll(clock: Clock) -> None:
    def feed(p: LineProgress | LiveProgress) -> None:
        p("endpoint.x", ProgressEvent("step 2/3: 50% of traffic on v-2", phase="step", percent=50.0))
        left = 60.0
        while left > 0:
            p("endpoint.x", bake(left))
            clock.now += 0.25
            left -= 0.25
        p("endpoint.x", bake(0))

    lines = through_pipe(feed).splitlines()
    bakes = [ln for ln in lines if " bake " in ln]
    assert lines[0] == "endpoint.x: step 2/3: 50% of traffic on v-2"
    assert bakes[0] == "endpoint.x: step 2/3 50% bake 0/60s 40 req err 0.00% p99 3.1ms"
    assert bakes[-1] == "endpoint.x: step 2/3 50% bake 60/60s 40 req err 0.00% p99 3.1ms"
    assert len(bakes) <= 2 + 60 / P.LOG_EVERY_S


@pytest.mark.parametrize("figures", [(40, 0.0, 3.1, 60), (123_456, 0.1234, 1234.5, 600), (9, 1.0, None, 3600)])
def test_bake_lines_fit_80_columns_in_a_log_and_on_a_terminal(figures: tuple[int, float, float | None, int]) -> None:
    req, err, p99, total = figures
    ev = ProgressEvent(bake_line("step 10/10 100%", total / 2, total, req, err, p99), phase="bake",
                       percent=100.0, error_rate=err, p99_ms=p99, requests=req, remaining_s=total / 2, total_s=total)
    out = io.StringIO()
    LineProgress(False, out)("endpoint.sentiment", ev)
    assert len(out.getvalue().rstrip("\n")) <= 80, out.getvalue()

    term = io.StringIO()
    live = LiveProgress(False, term, width=80)
    live("endpoint.sentiment", ev)
    live.live.refresh()
    shown = screen(term.getvalue())
    live.close()
    assert len(shown) == 1 and shown[0].startswith("endpoint.sentiment: step 10/10 100% bake "), shown
    text = out.getvalue().rstrip("\n")
    if len(text) <= 80 - 6:  # a bar where 5 cells are left, none where the figures take the row
        assert shown[0].startswith(text + " ") and set(shown[0][len(text) + 1:]) <= {"█", "░"}, shown
    else:
        assert shown[0] == text


def test_a_terminal_redraws_one_row_and_keeps_one_final_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFORM_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    out = io.StringIO()
    p = make_progress(False, out, tty=True)
    assert isinstance(p, LiveProgress)
    p("eval_suite.golden", "Creating...")
    drawn = []
    for ev in suite("eval_suite.golden"):
        p("eval_suite.golden", ev)
        p.live.refresh()
        drawn.append(screen(out.getvalue())[-1])
    p("eval_suite.golden", "Complete")
    p.close()
    raw = out.getvalue()
    assert raw.count("\r") >= 20  # each count redraws the row in place
    assert "eval_suite.golden: evaluating 100/200 records █" in "\n".join(drawn)
    final = screen(raw)
    assert final[0] == "eval_suite.golden: Creating..."
    assert final[1] == "eval_suite.golden: evaluated 200 records in 3.0s, passed (accuracy 0.96)"
    assert final[2].startswith("eval_suite.golden: Complete [") and len(final) == 3
    assert not SGR_COLOUR.search(raw)  # --no-color: cursor moves, no colour


def test_a_narrow_terminal_cuts_the_row_instead_of_wrapping() -> None:
    out = io.StringIO()
    p = LiveProgress(False, out, width=40)
    p("endpoint.sentiment", bake(30))
    p.live.refresh()
    shown = screen(out.getvalue(), width=40)
    p.close()
    assert len(shown) == 1 and shown[0].startswith("endpoint.sentiment: step 2/3") and shown[0].endswith("…")


def test_colour_only_when_asked() -> None:
    out = io.StringIO()
    p = LiveProgress(True, out, width=80)
    p("endpoint.x", "Modifying...")
    p("endpoint.x", bake(30))
    p.live.refresh()
    p.close()
    assert SGR_COLOUR.search(out.getvalue())
    plain = io.StringIO()
    LineProgress(False, plain)("endpoint.x", "Modifying...")
    assert "\x1b" not in plain.getvalue()
