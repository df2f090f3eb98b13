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

Mutations (one per mutant, on the source text so line numbers stay; docstrings, annotations,
f-strings, asserts, logging calls and ``# pragma: no mutate`` lines are left alone):

    compare     == <-> !=, < -> <=, <= -> <, > -> >=, >= -> >, in <-> not in, is <-> is not
    boolop      and <-> or
    not         ``not x`` -> ``x``
    negate      ``if x:`` / ``while x:`` / ``a if x else b`` -> ``not x``
    arith       + <-> -, * <-> /, // -> /, % -> *
    augassign   += <-> -=
    constant    True <-> False, an integer n -> n + 1
    return      ``return x`` -> ``return None``
    delete      a call statement ``f(...)`` -> ``pass``
    swap        two adjacent side-effect statements (calls, ifs of calls) run in the other order
    loop        break <-> continue
"""

from __future__ import annotations

import argparse
import ast
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

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".ci" / "mutation.toml"
PACKAGES = ("engine", "providers", "schemas")
LOG_NAMES = {"log", "logger", "_log", "LOG", "_logger", "logging"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical"}


@dataclasses.dataclass(frozen=True)
class Mutant:
    file: str  # relative to the repository root
    line: int
    op: str
    before: str
    after: str
    start: tuple[int, int]  # (line, col) of the replaced text, 1-based line
    end: tuple[int, int]
    text: str  # the replacement text

    @property
    def ident(self) -> str:
        return f"{self.file}:{self.line}: {self.op}: {self.before} -> {self.after}"


# -- finding mutants ------------------------------------------------------------------------


def _short(src: str, limit: int = 60) -> str:
    s = " ".join(src.split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


class _Finder(ast.NodeVisitor):
    def __init__(self, file: str, source: str) -> None:
        self.file = file
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.found: list[Mutant] = []
        self.skip_lines = {i + 1 for i, ln in enumerate(self.lines) if "pragma: no mutate" in ln}

    # helpers
    def seg(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.source, node) or ""

    def add_expr(self, node: ast.expr, new: ast.expr, op: str, after: str | None = None) -> None:
        if node.lineno in self.skip_lines:
            return
        before = self.seg(node)
        text = ast.unparse(new)
        pad = "\n" * ((node.end_lineno or node.lineno) - node.lineno)
        self.found.append(Mutant(self.file, node.lineno, op, _short(before), _short(after or text),
                                 (node.lineno, node.col_offset),
                                 (node.end_lineno or node.lineno, node.end_col_offset or 0),
                                 f"({text}{pad})"))

    def add_stmt(self, node: ast.stmt, text: str, op: str, after: str) -> None:
        if node.lineno in self.skip_lines:
            return
        pad = "\n" * ((node.end_lineno or node.lineno) - node.lineno)
        self.found.append(Mutant(self.file, node.lineno, op, _short(self.seg(node)), after,
                                 (node.lineno, node.col_offset),
                                 (node.end_lineno or node.lineno, node.end_col_offset or 0), text + pad))

    # what is never mutated
    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return

    def visit_Assert(self, node: ast.Assert) -> None:
        return

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)

    def visit_arguments(self, node: ast.arguments) -> None:
        for d in node.defaults + [d for d in node.kw_defaults if d is not None]:
            self.visit(d)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for d in node.decorator_list:
            self.visit(d)
        self.visit(node.args)
        self._body(node.body)

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._body(node.body)

    def visit_Module(self, node: ast.Module) -> None:
        self._body(node.body)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            return
        self._negate(node.test)
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negate(node.test)
        self.generic_visit(node)

    def _negate(self, test: ast.expr) -> None:
        if isinstance(test, (ast.Compare, ast.BoolOp)) or (
                isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
            return  # their own mutations cover them
        if isinstance(test, ast.Constant):
            return
        self.add_expr(test, ast.UnaryOp(ast.Not(), test), "negate", f"not {_short(self.seg(test), 40)}")

    # statement lists: docstrings, deletion, swaps
    def _body(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                continue  # docstring
            self.visit(stmt)
        for a, b in zip(body, body[1:]):
            if _effect(a) and _effect(b) and a.col_offset == b.col_offset and a.lineno not in self.skip_lines:
                self._swap(a, b)

    def generic_visit(self, node: ast.AST) -> None:
        for field, value in ast.iter_fields(node):
            if field in ("annotation", "returns", "type_comment"):
                continue
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._body(value)  # type: ignore[arg-type]
            elif isinstance(value, list):
                for v in value:
                    if isinstance(v, ast.AST):
                        self.visit(v)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def _swap(self, a: ast.stmt, b: ast.stmt) -> None:
        start = (a.lineno, a.col_offset)
        end = (b.end_lineno or b.lineno, b.end_col_offset or 0)
        between = _slice(self.lines, (a.end_lineno or a.lineno, a.end_col_offset or 0), (b.lineno, b.col_offset))
        text = self.seg(b) + between + self.seg(a)
        self.found.append(Mutant(self.file, a.lineno, "swap", _short(self.seg(a), 40),
                                 f"after {_short(self.seg(b), 40)}", start, end, text))

    # statements
    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call) and not _is_log_call(node.value):
            self.add_stmt(node, "pass", "delete", "pass")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self.add_expr(node.value, ast.Constant(None), "return", "None")
        self.generic_visit(node)

    def visit_Break(self, node: ast.Break) -> None:
        self.add_stmt(node, "continue", "loop", "continue")

    def visit_Continue(self, node: ast.Continue) -> None:
        self.add_stmt(node, "break", "loop", "break")

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        swap = {ast.Add: ast.Sub, ast.Sub: ast.Add}.get(type(node.op))
        if swap is not None and node.lineno not in self.skip_lines:
            new = ast.AugAssign(node.target, swap(), node.value)
            self.add_stmt(node, ast.unparse(new), "augassign", ast.unparse(new))
        self.visit(node.value)

    # expressions
    def visit_Compare(self, node: ast.Compare) -> None:
        flip = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
        for i, op in enumerate(node.ops):
            ops = list(node.ops)
            ops[i] = flip[type(op)]()
            self.add_expr(node, ast.Compare(node.left, ops, node.comparators), "compare")
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self.add_expr(node, ast.BoolOp(other, node.values), "boolop")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self.add_expr(node, node.operand, "not")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if not (isinstance(node.left, ast.Constant) and isinstance(node.left.value, str)):  # "%" formatting
            swap = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                    ast.FloorDiv: ast.Div, ast.Mod: ast.Mult}.get(type(node.op))
            if swap is not None:
                self.add_expr(node, ast.BinOp(node.left, swap(), node.right), "arith")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        v = node.value
        if isinstance(v, bool):
            self.add_expr(node, ast.Constant(not v), "constant")
        elif isinstance(v, int):
            self.add_expr(node, ast.Constant(v + 1), "constant")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_log_call(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr in LOG_METHODS and isinstance(f.value, ast.Name)
            and f.value.id in LOG_NAMES)


def _effect(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr):
        return isinstance(stmt.value, ast.Call) and not _is_log_call(stmt.value)
    if isinstance(stmt, ast.If):
        return not stmt.orelse and all(_effect(s) for s in stmt.body)
    return False


def _offset(lines: list[str], pos: tuple[int, int]) -> int:
    # ast columns are UTF-8 byte offsets
    line, col = pos
    before = sum(len(x) for x in lines[: line - 1])
    return before + len(lines[line - 1].encode()[:col].decode())


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    text = "".join(lines)
    return text[_offset(lines, start):_offset(lines, end)]


def find_mutants(file: str) -> list[Mutant]:
    source = (ROOT / file).read_text()
    finder = _Finder(file, source)
    finder.visit(ast.parse(source))
    return sorted(finder.found, key=lambda m: (m.start, m.op, m.after))


def apply(mutant: Mutant, source: str) -> str:
    lines = source.splitlines(keepends=True)
    a, b = _offset(lines, mutant.start), _offset(lines, mutant.end)
    out = source[:a] + mutant.text + source[b:]
    ast.parse(out)  # a mutant is always valid Python
    return out


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
    args = ap.parse_args(argv)
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


def run_sample(cfg: dict, jobs: int, dry: bool = False) -> int:  # type: ignore[type-arg]
    """Every [[sample]] mutant must exist and be killed by its module's tests (``dry``: list them)."""
    modules = cfg["module"]
    by_file: dict[str, list[Mutant]] = {}
    problems = []
    for entry in cfg.get("sample", []):
        found = matching(find_mutants(entry["file"]), entry)
        if not found:
            problems.append(f"sample mutant not found (the code changed? update .ci/mutation.toml): {entry}")
        by_file.setdefault(entry["file"], []).extend(found)
    if dry:
        for ms in by_file.values():
            for m in ms:
                print(m.ident)
        for p in problems:
            print(p)
        return 1 if problems else 0
    survivors = []
    for f, mutants in by_file.items():
        try:
            results, _ = run_module(f, modules[f]["tests"], mutants, {}, jobs)
        except BaselineFailed as exc:
            problems.append(str(exc))
            continue
        survivors += [o for o in results if o.status == "survived"]
    for o in survivors:
        problems.append(f"survived (a test that caught it was weakened or removed): {o.mutant.ident}")
    total = sum(len(v) for v in by_file.values())
    print(f"\nmutation sample: {total - len(survivors)} of {total} mutants killed")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
