"""The CI fuzz smoke: a bounded run with a fixed seed, failing on any internal error.

Two runs of the same generator (tests/fuzz/gen.py), in-process through
validate, plan and saved plans (tests/fuzz/harness.py): 1,500 numbered cases
of seed 20 (each reproduced alone by ``python -m tests.fuzz.run --seed 20
--case N``), and 150 cases drawn through hypothesis (derandomized), which
shrinks a failing case to its smallest form. The long run by hand is
``python -m tests.fuzz.run --cases 100000`` (docs/reliability.md).
"""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.gen import make_case
from tests.fuzz.harness import Finding, run_case, run_many

SMOKE_SEED = 20
SMOKE_CASES = 1500


def _report(findings: list[Finding]) -> str:
    seen: dict[tuple[str, str], Finding] = {}
    for f in findings:
        seen.setdefault(f.key, f)
    return "\n".join(f"{f.kind} at {f.where} [{f.stage}]: {f.message[:200]}\n"
                     f"  reproduce: python -m tests.fuzz.run --seed {f.case.split(':')[0]} "
                     f"--case {f.case.split(':')[1]}" for f in seen.values())


def test_fuzz_smoke_no_internal_error(tmp_path: Path) -> None:
    count, findings, reached = run_many(SMOKE_SEED, 0, SMOKE_CASES, tmp_path / "p")
    assert count == SMOKE_CASES
    assert not findings, f"{len(findings)} internal errors in {count} cases:\n{_report(findings)}"
    # the run gets past the parser: plans are made and saved plans read back
    assert reached["plan"] > count // 10 and reached["saved-plan"] > count // 40, reached


@settings(max_examples=150, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False))
def test_fuzz_hypothesis_no_internal_error(tmp_path: Path, rng: random.Random) -> None:
    case = make_case(0, 0, rng)
    findings = run_case(case, tmp_path / "p")
    assert not findings, f"{_report(findings)}\nfiles: {case.files!r}\nvars: {case.vars!r} {case.var_files!r}"
