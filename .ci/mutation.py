"""Mutation testing of mlform's safety-critical modules: do the tests notice a one-line bug?

    python .ci/mutation.py                       every module in .ci/mutation.toml
    python .ci/mutation.py engine/state/journal.py [--limit N] [--jobs 2]
    python .ci/mutation.py --list engine/plan/diff.py     the mutants, without running them
    python .ci/mutation.py --sample              CI: the fixed [[sample]] list; exit 1 if one survives

Why not mutmut or cosmic-ray: the packages live in engine/, providers/ and schemas/ and import as
mlform.* through package-dir, and many tests start ``mlform`` as a real process (kill -9, two
processes on one lock). A mutant must therefore be on disk where every process imports it from,
and must never touch the working tree other people are editing. This runner copies the three
folders once into a temporary ``mlform/`` tree that ``PYTHONPATH`` puts before the editable
install, writes one mutant at a time into that copy, runs the module's covering test subset
(``pytest -x``, in its own process) and records the outcome:

    killed    a test failed (or the run passed its time limit: a mutant that hangs is caught)
    survived  every test passed: a bug of that shape would reach users
    skipped   listed as equivalent in .ci/mutation.toml (no test can tell it apart), with a reason

A module's score is killed / (killed + survived). The unmutated copy must pass its subset first.

The mutations are listed in .ci/mutants.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from mutants import Mutant, apply, find_mutants

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".ci" / "mutation.toml"
PACKAGES = ("engine", "providers", "schemas")


# -- running ------------------------------------------------------------------------------


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | skipped
    seconds: float
    detail: str = ""


class BaselineFailed(Exception):
    pass


class Sandbox:
    """A copy of engine/, providers/ and schemas/ as ``mlform/`` for one worker."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mlform-mutation-"))
        for pkg in PACKAGES:
            shutil.copytree(ROOT / pkg, self.dir / "mlform" / pkg,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(self.dir), os.environ.get("PYTHONPATH")) if p)
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"  # a mutant's bytecode never outlives it
        self.env.pop("MLFORM_TESTS_PROVIDER_PATH", None)

    def path(self, file: str) -> Path:
        return self.dir / "mlform" / file

    def run_tests(self, tests: list[str], timeout: float, env: dict[str, str] | None = None,
                  plugin: bool = False) -> tuple[int, str, float]:
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
               "--timeout", str(int(max(timeout, 30)))]
        if plugin:
            cmd += ["-p", "mutation_trace"]
        environ = {**self.env, **(env or {})}
        if plugin:
            environ["PYTHONPATH"] += os.pathsep + str(ROOT / ".ci")
        t0 = time.monotonic()
        try:
            p = subprocess.run([*cmd, *tests], cwd=ROOT, env=environ, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout if isinstance(exc.stdout, str) else ""
            return -9, out + "\n(timed out)", time.monotonic() - t0
        return p.returncode, p.stdout, time.monotonic() - t0

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line[:160]
    return output.strip().splitlines()[-1][:160] if output.strip() else ""


def run_module(file: str, tests: list[str], mutants: list[Mutant], equivalent: dict[str, str], jobs: int,
               log: bool = True) -> tuple[list[Outcome], float]:
    sandboxes = [Sandbox() for _ in range(jobs)]
    try:
        # The unmutated copy first, traced: it must pass, and it says which tests run which line.
        trace = sandboxes[0].dir / "trace.json"
        rc, out, base = sandboxes[0].run_tests(tests, timeout=900, plugin=True, env={
            "MUTATION_TRACE_FILE": str(sandboxes[0].path(file)), "MUTATION_TRACE_OUT": str(trace)})
        if rc != 0:
            raise BaselineFailed(f"{file}: the unmutated tests fail (exit {rc}); fix them first:\n{out[-3000:]}")
        covering: dict[int, list[str]] = {}
        for test, lines in json.loads(trace.read_text()).items():
            for ln in lines:
                covering.setdefault(ln, []).append(test)
        timeout = base * 2 + 30
        source = (ROOT / file).read_text()
        free = list(sandboxes)
        results: list[Outcome] = []

        def one(m: Mutant) -> Outcome:
            if _equivalent_key(m) in equivalent:
                return Outcome(m, "skipped", 0.0, equivalent[_equivalent_key(m)])
            box = free.pop()
            try:
                target = box.path(file)
                target.write_text(apply(m, source))
                # the tests that ran the line first (fast); if they all pass, the whole subset
                first = sorted({t for ln in range(m.start[0], m.end[0] + 1) for t in covering.get(ln, [])})
                rc, out, secs = (box.run_tests(first, timeout) if first and len(first) < 200 else (0, "", 0.0))
                if rc == 0:
                    rc, out, more = box.run_tests(tests, timeout)
                    secs += more
                target.write_text(source)
            finally:
                free.append(box)
            status = "survived" if rc == 0 else "killed"
            return Outcome(m, status, secs, "" if rc == 0 else ("timeout" if rc == -9 else _first_failure(out)))

        with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
            for o in pool.map(one, mutants):
                results.append(o)
                if log:
                    mark = {"killed": "  killed ", "survived": "SURVIVED ", "skipped": "  equiv  "}[o.status]
                    print(f"{mark} {o.seconds:5.1f}s  {o.mutant.ident}", flush=True)
        return results, base
    finally:
        for s in sandboxes:
            s.close()


def _equivalent_key(m: Mutant) -> str:
    """How .ci/mutation.toml names a mutant: the source line's text, the operator, the result."""
    line = (ROOT / m.file).read_text().splitlines()[m.line - 1].strip()
    return f"{line} | {m.op} | {m.after}"


def load_config() -> dict:  # type: ignore[type-arg]
    with open(CONFIG, "rb") as f:
        return tomllib.load(f)


def matching(mutants: list[Mutant], entry: dict) -> list[Mutant]:  # type: ignore[type-arg]
    out = []
    for m in mutants:
        line = (ROOT / m.file).read_text().splitlines()[m.line - 1]
        if m.op == entry["op"] and entry["match"] in line and entry.get("after", "") in m.after:
            out.append(m)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("modules", nargs="*", help="files as listed in .ci/mutation.toml (default: all)")
    ap.add_argument("--list", action="store_true", help="print the mutants and stop")
    ap.add_argument("--sample", action="store_true", help="run the fixed [[sample]] list; exit 1 if one survives")
    ap.add_argument("--limit", type=int, default=0, help="at most N mutants per module (spread evenly)")
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at once (each in its own copy)")
    ap.add_argument("--lines", default="", help="only the mutants on these source lines (e.g. 44,78,120-130):\n"
                    "re-running a module's survivors after adding tests")
    args = ap.parse_args(argv)
    lines = _parse_lines(ap, args.lines)
    cfg = load_config()
    modules: dict[str, dict] = cfg["module"]  # type: ignore[type-arg]

    if args.sample:
        return run_sample(cfg, args.jobs, dry=args.list)

    chosen = args.modules or list(modules)
    for f in chosen:
        if f not in modules:
            ap.error(f"{f} is not in {CONFIG.relative_to(ROOT)}")
    summary = []
    failed = False
    for f in chosen:
        mutants = find_mutants(f)
        if lines:
            mutants = [m for m in mutants if m.line in lines]
        if args.limit and len(mutants) > args.limit:
            step = len(mutants) / args.limit
            mutants = [mutants[int(i * step)] for i in range(args.limit)]
        if args.list:
            for m in mutants:
                print(m.ident)
            print(f"{len(mutants)} mutants in {f}")
            continue
        equivalent = {e["key"]: e["reason"] for e in modules[f].get("equivalent", [])}
        print(f"\n== {f}: {len(mutants)} mutants, tests: {' '.join(modules[f]['tests'])}", flush=True)
        t0 = time.monotonic()
        try:
            results, base = run_module(f, modules[f]["tests"], mutants, equivalent, args.jobs)
        except BaselineFailed as exc:
            print(exc, flush=True)
            failed = True
            continue
        killed = sum(o.status == "killed" for o in results)
        survived = [o for o in results if o.status == "survived"]
        skipped = sum(o.status == "skipped" for o in results)
        total = killed + len(survived)
        score = 100.0 * killed / total if total else 100.0
        took = time.monotonic() - t0
        summary.append((f, killed, len(survived), skipped, score, took, base))
        for o in survived:
            print(f"  survivor: {o.mutant.ident}\n            key: {_equivalent_key(o.mutant)!r}")
    if summary:
        print(f"\nmutation scores, {datetime.date.today().isoformat()}")
        print(f"{'module':44} {'killed':>6} {'surv':>5} {'equiv':>5} {'score':>7} {'run':>7} {'tests':>6}")
        for f, k, s, e, sc, took, base in summary:
            print(f"{f:44} {k:6} {s:5} {e:5} {sc:6.1f}% {took / 60:6.1f}m {base:5.1f}s")
    return 1 if failed else 0


def _parse_lines(ap: argparse.ArgumentParser, text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            ap.error(f"--lines: {part!r} is not a line number or a range like 120-130")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def run_sample(cfg: dict, jobs: int, dry: bool = False) -> int:  # type: ignore[type-arg]
    """Every [[sample]] mutant must exist and be killed by its tests (``dry``: list them).

    An entry's ``tests`` (default: its module's) are the tests that hold the promise it stands for.
    """
    modules = cfg["module"]
    groups: dict[tuple[str, tuple[str, ...]], list[Mutant]] = {}
    problems = []
    for entry in cfg.get("sample", []):
        found = matching(find_mutants(entry["file"]), entry)
        if not found:
            problems.append(f"sample mutant not found (the code changed? update .ci/mutation.toml): {entry}")
        tests = tuple(entry.get("tests") or modules[entry["file"]]["tests"])
        groups.setdefault((entry["file"], tests), []).extend(found)
    if dry:
        for (_, tests), ms in groups.items():
            for m in ms:
                print(f"{m.ident}\n    by {' '.join(tests)}")
        for p in problems:
            print(p)
        return 1 if problems else 0
    survivors = []
    for (f, tests), mutants in groups.items():
        try:
            results, _ = run_module(f, list(tests), mutants, {}, jobs)
        except BaselineFailed as exc:
            problems.append(str(exc))
            continue
        survivors += [o for o in results if o.status == "survived"]
    for o in survivors:
        problems.append(f"survived (a test that caught it was weakened or removed): {o.mutant.ident}")
    total = sum(len(v) for v in groups.values())
    print(f"\nmutation sample: {total - len(survivors)} of {total} mutants killed")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
