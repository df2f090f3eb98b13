"""Input variables: gather values from every source, convert, validate.

Precedence, weakest first (as Terraform): environment ``MLF_VAR_name``,
``*.auto.mlfvars.hcl`` files (name order), ``--var-file`` files and ``--var``
flags in the order given on the command line (the last one wins).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.config.model import Config, VariableDecl
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, SourceRange
from mlform.engine.expr.eval import EvalError
from mlform.engine.load import ast as A


@dataclass
class VarInput:
    """One value for a variable and where it came from."""

    value: Any
    source: str
    raw: bool = False  # a string from the CLI/env still to be converted by type


@dataclass
class VarSources:
    """The variable sources given on the command line, in order."""

    cli: list[tuple[str, str]] = field(default_factory=list)  # ("var", "a=b") or ("file", path)


def gather(cfg: Config, sources: VarSources, environ: dict[str, str] | None = None) -> tuple[dict[str, VarInput], Diagnostics]:
    env = os.environ if environ is None else environ
    d = Diagnostics()
    vals: dict[str, VarInput] = {}
    for k, v in env.items():
        if k.startswith("MLF_VAR_"):
            name = k[len("MLF_VAR_"):]
            if name in cfg.variables:
                vals[name] = VarInput(v, f"environment {k}", raw=True)
    for p in sorted(cfg.directory.glob("*.auto.mlfvars.hcl")):
        _read_var_file(p, cfg, vals, d)
    for kind, item in sources.cli:
        if kind == "file":
            p = Path(item)
            if not p.is_absolute():
                p = Path.cwd() / p
            if not p.exists():
                d.error("Failed to read variables file", f'The file "{item}" does not exist. Check the --var-file path.')
                continue
            _read_var_file(p, cfg, vals, d)
        else:
            if "=" not in item:
                d.error("Invalid --var option", f'"{item}" is not NAME=VALUE. Write --var NAME=VALUE.')
                continue
            name, value = item.split("=", 1)
            if name not in cfg.variables:
                d.error("Value for undeclared variable", f'A variable named "{name}" was assigned with --var '
                        "but is not declared. Declare it with a variable block, or remove the option.")
                continue
            vals[name] = VarInput(value, "--var", raw=True)
    return vals, d


def _read_var_file(p: Path, cfg: Config, vals: dict[str, VarInput], d: Diagnostics) -> None:
    from mlform.engine.expr.scope import evaluate_static

    try:
        from mlform.engine.load.hcl import parse_text  # the parser loads lazily (startup time)

        f = parse_text(p.read_text(encoding="utf-8"), str(p))
    except DiagnosticsError as e:
        d.extend(e.diagnostics)
        return
    for name, a in f.body.attributes.items():
        if name not in cfg.variables:
            d.warning("Value for undeclared variable", f'The file sets "{name}", which is not declared; it is ignored.',
                      a.name_rng)
            continue
        try:
            vals[name] = VarInput(evaluate_static(a.expr, cfg.directory), str(p))
        except EvalError as e:
            d.extend(e.diagnostics)


def convert(decl: VarDecl_, inp: VarInput, d: Diagnostics) -> Any:
    v = inp.value
    if inp.raw and isinstance(v, str):
        if decl.type == "number":
            try:
                return int(v) if v.lstrip("-").isdigit() else float(v)
            except ValueError:
                d.error("Invalid value for input variable", f'The value "{v}" for variable "{decl.name}" from '
                        f"{inp.source} is not a number.", decl.rng)
                return None
        if decl.type == "bool":
            if v in ("true", "false"):
                return v == "true"
            d.error("Invalid value for input variable", f'The value "{v}" for variable "{decl.name}" from '
                    f"{inp.source} is not a bool (true or false).", decl.rng)
            return None
        if decl.type in ("list", "map", "object", "set", "tuple") or (decl.type == "any" and v[:1] in "[{"):
            from mlform.engine.expr.scope import evaluate_static
            try:
                from mlform.engine.load.hcl import parse_expression

                return evaluate_static(parse_expression(v, inp.source), Path.cwd())
            except DiagnosticsError as e:
                d.error("Invalid value for input variable", f'The value for "{decl.name}" from {inp.source} is '
                        f"not a valid HCL expression: {e.diagnostics.errors[0].summary}.", decl.rng)
                return None
        return v
    return _check_type(decl, v, inp.source, d)


VarDecl_ = VariableDecl


def _check_type(decl: VariableDecl, v: Any, source: str, d: Diagnostics) -> Any:
    t = decl.type
    ok = {
        "string": lambda x: isinstance(x, (str, int, float)) and not isinstance(x, bool) or isinstance(x, bool),
        "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
        "bool": lambda x: isinstance(x, bool),
        "list": lambda x: isinstance(x, list), "set": lambda x: isinstance(x, list), "tuple": lambda x: isinstance(x, list),
        "map": lambda x: isinstance(x, dict), "object": lambda x: isinstance(x, dict),
    }.get(t, lambda x: True)
    if v is not None and not ok(v):
        d.error("Invalid value for input variable",
                f'Variable "{decl.name}" is declared as {t}, but {source} gives {type(v).__name__} {v!r}.', decl.rng)
        return None
    if t == "string" and isinstance(v, (bool, int, float)):
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    return v


def default_range(decl: VariableDecl) -> SourceRange:
    return decl.default.rng if isinstance(decl.default, A.Expr) else decl.rng
