"""Running the suite of an ``eval_suite`` resource when it is applied (``mlform eval`` is
engine/commands/evals.py, over the engine core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mlform.engine.diagnostics import Diagnostics
from mlform.engine.rollout.suites import run_config, summary


def run_for_state(project_dir: Path, planned: dict[str, Any], progress: Callable[..., None]
                  ) -> tuple[dict[str, Any] | None, Diagnostics]:
    """Run the suite in ``planned``; returns {results, passed, failure} or None."""
    planned = dict(planned)
    address = str(planned.pop("address", "eval_suite"))
    result, d = run_config(address, planned, project_dir,
                           target_digest=planned.get("target_digest"), progress=lambda m: progress(m))
    if result is None:
        return None, d
    res = result.to_json()
    return {"results": res, "passed": bool(result.passed), "failure": summary(result)}, d
