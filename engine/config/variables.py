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
from mlform.engine.config.vartypes import TypeMismatch, conform, is_complex, type_str
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, SourceRange
from mlform.engine.expr.eval import EvalError
from mlform.engine.load import ast as A


@dataclass
class VarInput:
    """One value for a variable and where it came from."""

    value: Any
    source: str
    raw: bool = False  # a string from the CLI/env still to be converted by type
    rng: SourceRange | None = None  # the value in a variables file


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
            why = _unreadable(item, p)
            if why:
                d.error("Failed to read variables file", why)
            else:
                _read_var_file(p, cfg, vals, d, flag="--var-file ")
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


def _display(p: Path) -> str:
    """A variables file as diagnostics name it: relative to where the user is, as config files are."""
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def _unreadable(item: str, p: Path) -> str:
    """Why the --var-file ``item`` (at ``p``) cannot be read, or ""."""
    try:
        if "\0" in item:
            return (f"The --var-file path {item!r} contains a NUL byte, which no file name can hold. "
                    "Check the --var-file path.")
        if p.is_dir():
            return (f'The --var-file path "{item}" is a directory. '
                    "Give the path of a variables file (NAME.mlfvars.hcl) in it.")
        if not p.exists():
            return f'The file "{item}" does not exist. Check the --var-file path.'
    except OSError as exc:  # a name too long, a loop of links
        return f'Cannot read --var-file "{item}": {exc.strerror or exc}. Check the --var-file path.'
    return ""


def _read_var_file(p: Path, cfg: Config, vals: dict[str, VarInput], d: Diagnostics, flag: str = "") -> None:
    from mlform.engine.expr.scope import evaluate_static

    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        d.error("Failed to read variables file", f"Cannot read {flag}{_display(p)}: {why}. "
                "A variables file is UTF-8 text of NAME = VALUE lines.")
        return
    try:
        from mlform.engine.load.hcl import parse_text  # the parser loads lazily (startup time)

        f = parse_text(text, _display(p))
    except DiagnosticsError as e:
        d.extend(e.diagnostics)
        return
    for name, a in f.body.attributes.items():
        if name not in cfg.variables:
            d.warning("Value for undeclared variable", f'The file sets "{name}", which is not declared; it is ignored.',
                      a.name_rng)
            continue
        try:
            vals[name] = VarInput(evaluate_static(a.expr, cfg.directory), _display(p), rng=a.expr.rng)
        except EvalError as e:
            d.extend(e.diagnostics)


def convert(decl: VariableDecl, inp: VarInput, d: Diagnostics) -> Any:
    """``inp`` converted to the variable's type (Terraform's rules); a mismatch is an
    error at the value's source (the value in a variables file, else the declaration)
    naming the source, the expected and the actual type."""
    v = inp.value
    t = decl.type_spec
    where = inp.rng or decl.rng
    if inp.raw and isinstance(v, str) and (is_complex(t) or (t[0] == "any" and v[:1] in "[{")):
        # --var / MLF_VAR_ values of a collection type are HCL expressions
        from mlform.engine.expr.scope import evaluate_static
        try:
            from mlform.engine.load.hcl import parse_expression

            v = evaluate_static(parse_expression(v, inp.source), Path.cwd())
        except (DiagnosticsError, EvalError) as e:
            d.error("Invalid value for input variable", f'The value for variable "{decl.name}" from {inp.source} is '
                    f"not a valid HCL expression: {e.diagnostics.errors[0].summary}. Write it as HCL, for example "
                    + ("'[\"a\", \"b\"]'" if t[0] in ("list", "set", "tuple") else "'{ key = \"value\" }'") + ".",
                    where)
            return None
    return _conform(decl, v, inp.source, where, d)


def convert_default(decl: VariableDecl, value: Any, d: Diagnostics) -> Any:
    """A variable's default converted to its type (a mismatch is an error at the default)."""
    return _conform(decl, value, "its default", default_range(decl), d)


def _conform(decl: VariableDecl, v: Any, source: str, where: SourceRange, d: Diagnostics) -> Any:
    try:
        return conform(decl.type_spec, v)
    except TypeMismatch as e:
        at = f" at {e.path}" if e.path else ""
        d.error("Invalid value for input variable",
                f'Variable "{decl.name}" is declared as {type_str(decl.type_spec)}, but the value from {source} '
                f"does not fit{at}: {e.expected} is required, but it is {e.actual}.", where)
        return None


def default_range(decl: VariableDecl) -> SourceRange:
    return decl.default.rng if isinstance(decl.default, A.Expr) else decl.rng
