"""Apply progress as printed: plain lines for logs, rich bars for a terminal."""

from __future__ import annotations

import io

from mlform.engine.cli.progress import LineProgress, LiveProgress, make_progress
from mlform.engine.providers.protocol import ProgressEvent


def bake(left: float) -> ProgressEvent:
    return ProgressEvent(f"50% on v-2: 40 req, error rate 0.00%, p99 3.0 ms, bake {left:.0f}s left", phase="bake",
                         percent=50.0, error_rate=0.0, p99_ms=3.0, requests=40, remaining_s=left, total_s=60.0)


def test_lines_for_logs_thin_the_bake_countdown() -> None:
    out = io.StringIO()
    p = make_progress(False, out)
    assert isinstance(p, LineProgress)  # a StringIO is no terminal
    p("endpoint.x", ProgressEvent("50% of traffic on v-2", phase="step", percent=50.0))
    for left in (60, 59.5, 59, 58.5, 0):
        p("endpoint.x", bake(left))
    p("endpoint.x", "Complete")
    p.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "endpoint.x: 50% of traffic on v-2"
    # The first and the last poll of a bake are shown, not the ones in between.
    assert [ln for ln in lines if "bake" in ln] == [f"endpoint.x: {bake(60)}", f"endpoint.x: {bake(0)}"]
    assert lines[-1].startswith("endpoint.x: Complete [") and "\x1b[" not in out.getvalue()


def test_terminal_bars_show_live_figures_and_respect_no_color() -> None:
    out = io.StringIO()
    p = LiveProgress(False, out)
    p("endpoint.x", "Modifying...")
    p("endpoint.x", bake(30))
    p.bars.refresh()
    drawn = out.getvalue()
    p("endpoint.x", "Complete")
    p.close()
    assert "endpoint.x: Modifying..." in drawn
    assert "50% on new, baking 30s left" in drawn and "err 0.00%" in drawn and "p99 3.0 ms" in drawn
    # Cursor movement is allowed; colour codes (SGR ...m) are not.
    import re
    assert not re.search(r"\x1b\[[0-9;]*[1-9][0-9;]*m", out.getvalue())
    assert "endpoint.x: Complete [" in out.getvalue()
