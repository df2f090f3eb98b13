"""The mutants of one Python file, for .ci/mutation.py: one-line bugs, as source text.

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

import ast
import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
