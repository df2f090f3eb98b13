"""``render_table``: suite results as a rich table for ``mlform eval``."""

from __future__ import annotations

from typing import Sequence

from rich.table import Table
from rich.text import Text

from .results import Status, SuiteResult, format_number


def _verdict(passed: bool) -> Text:
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")


def render_table(results: Sequence[SuiteResult]) -> Table:
    """One row per metric and assertion of each suite; errors show their first diagnostic."""
    table = Table(title="Evaluations", show_lines=False)
    for col, justify in (("Suite", "left"), ("Check", "left"), ("Value", "right"),
                         ("Threshold", "left"), ("Result", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for res in results:
        first = True

        def suite() -> str:
            nonlocal first
            label, first = (res.suite if first else ""), False
            return label

        if res.status is Status.ERROR:
            summary = next((d.summary for d in res.diagnostics), "error")
            table.add_row(suite(), Text(summary, style="red"), "", "", Text("ERROR", style="bold red"))
            continue
        for m in res.metrics:
            table.add_row(suite(), m.name, format_number(m.value), m.threshold_text, _verdict(m.passed))
        for a in res.assertions:
            value = f"{format_number(a.pass_rate)} ({a.passed_count}/{a.total})"
            if a.mean_score is not None:
                value += f", mean score {format_number(a.mean_score)}"
            table.add_row(suite(), a.name, value, f"pass rate >= {format_number(a.min_pass_rate)}",
                          _verdict(a.passed))
    return table
