"""Glue between the evaluator and the function library."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import error
from mlform.engine.expr.eval import EvalError, Evaluator, Scope
from mlform.engine.load import ast as A


def _call(name: str, args: list[Any], base_dir: Path, node: A.Call, ev: Evaluator, scope: Scope) -> Any:
    from mlform.engine.expr.functions import FunctionContext, FunctionError, call_function

    def render(text: str, variables: dict[str, Any], filename: str) -> Any:
        from mlform.engine.load.hcl import parse_template  # the parser loads lazily (startup time)

        tmpl = parse_template(text, filename)
        return ev.eval(tmpl, Scope(dict(variables), Path(filename).parent))

    try:
        return call_function(name, args, FunctionContext(base_dir=base_dir, render_template=render))
    except FunctionError as exc:
        idx = getattr(exc, "arg_index", None)
        rng = node.args[idx].rng if idx is not None and 0 <= idx < len(node.args) else node.rng
        summary = "Call to unknown function" if "no function" in str(exc).lower() or "unknown function" in \
            str(exc).lower() else f"Error in function call {name}()"
        raise EvalError(error(summary, str(exc), rng)) from None


EVALUATOR = Evaluator(_call)


def evaluate(e: A.Expr, scope: Scope) -> Any:
    """Evaluate ``e`` in ``scope`` with the full function library."""
    return EVALUATOR.eval(e, scope)


def evaluate_static(e: A.Expr, base_dir: Path) -> Any:
    """Evaluate an expression that may use functions but no names."""
    return EVALUATOR.eval(e, Scope({}, base_dir))
