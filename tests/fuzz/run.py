"""The long fuzz run, by hand: ``python -m tests.fuzz.run --cases 100000 [--seed 1] [--jobs 2]``.

Prints the count of cases and each distinct internal error (exception type
and innermost mlform frame) with how often it was hit and one case that
reproduces it: ``python -m tests.fuzz.run --seed S --case N`` runs that case
alone, prints its files and the traceback. Exits 1 when anything was found.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import tests.conftest  # noqa: F401 - registers the testing provider, as under pytest
from tests.fuzz.harness import Finding, run_case, run_many, write_case
from tests.fuzz.gen import make_case


def _work(args: tuple[int, int, int]) -> tuple[int, list[Finding], Counter[str]]:
    seed, start, count = args
    with tempfile.TemporaryDirectory(prefix="mlform-fuzz-") as d:
        return run_many(seed, start, count, Path(d) / "p")


def _new(seen: list[Finding], found: list[Finding]) -> None:
    """Print each distinct finding when it first appears (a long run is worth reading while it runs)."""
    keys = {f.key for f in seen}
    for f in found:
        if f.key not in keys:
            keys.add(f.key)
            print(f"\nnew: {f.kind} at {f.where} [{f.stage}] case {f.case}: {f.message[:160]}", flush=True)


def one(seed: int, number: int) -> int:
    case = make_case(seed, number)
    with tempfile.TemporaryDirectory(prefix="mlform-fuzz-") as d:
        root = Path(d) / "p"
        write_case(case, root)
        for rel in sorted(case.files):
            text = case.files[rel]
            if text is not None and not rel.startswith(("models/", "data/")):
                print(f"--- {rel}\n{text[:4000]}")
        print(f"--- var files {case.var_files} vars {case.vars!r} env {case.env!r} out {case.plan_out!r} "
              f"plan mutations {case.plan_mutations} cli {case.cli}")
        import os
        os.environ["MLFORM_DEBUG"] = "1"
        found = run_case(case, root)
    for f in found:
        print(f"{f.stage}: {f.kind} at {f.where}: {f.message}")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz.run")
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--case", type=int, default=None, help="run this one case and show it")
    a = ap.parse_args(argv)
    if a.case is not None:
        return one(a.seed, a.case)
    t0 = time.monotonic()
    chunk = 250
    work = [(a.seed, s, min(chunk, a.start + a.cases - s)) for s in range(a.start, a.start + a.cases, chunk)]
    findings: list[Finding] = []
    reached: Counter[str] = Counter()
    done = 0
    if a.jobs > 1:
        with multiprocessing.get_context("fork").Pool(a.jobs) as pool:
            for n, f, r in pool.imap_unordered(_work, work):
                done += n
                reached.update(r)
                _new(findings, f)
                findings += f
                print(f"\r{done} cases, {len(findings)} internal errors", end="", file=sys.stderr, flush=True)
    else:
        for w in work:
            n, f, r = _work(w)
            done += n
            reached.update(r)
            _new(findings, f)
            findings += f
            print(f"\r{done} cases, {len(findings)} internal errors", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    by_key: Counter[tuple[str, str]] = Counter(f.key for f in findings)
    first: dict[tuple[str, str], Finding] = {}
    for one_finding in findings:
        first.setdefault(one_finding.key, one_finding)
    print(f"{done} cases (seed {a.seed}, from {a.start}) in {time.monotonic() - t0:.0f} s: "
          f"{len(findings)} internal errors, {len(by_key)} distinct")
    print("  cases reaching each stage: " + ", ".join(f"{k} {reached[k]}" for k in
                                                     ("validate", "plan", "saved-plan", "cli")))
    for key, n in by_key.most_common():
        ex = first[key]
        print(f"  {n:6d} x {ex.kind} at {ex.where} [{ex.stage}] case {ex.case}: {ex.message[:160]}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
