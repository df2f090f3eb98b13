#!/usr/bin/env python3
"""Check the layout rules of the source tree: who may import what, and how long a file may be.

    python .ci/check_imports.py            # checks engine/, providers/, schemas/ of this checkout
    python .ci/check_imports.py --root DIR

Prints one line per violation, ``file:line: rule: import``, and exits 1 when
there is any (0 when there is none). Standard library only; the files are
read with :mod:`ast`, never imported.

The folders are the packages ``mlform.engine`` (engine/), ``mlform.providers``
(providers/) and ``mlform.schemas`` (schemas/). Relative imports are resolved
against the importing module. Every import statement counts, wherever it is
(top level, inside a function, under ``if TYPE_CHECKING:``), and so does
``importlib.import_module("...")`` / ``__import__("...")`` with a literal
name. ``from P import n`` imports ``P`` and ``P.n`` (``n`` may be a submodule).

Rules:

engine-imports-provider
    A module under engine/ imports no ``mlform.providers`` module: the engine
    finds providers by name through the registry (entry points).
provider-imports-cli
    No module under providers/ imports ``mlform.engine.cli`` or
    ``mlform.engine.commands`` (or anything under them).
provider-imports-provider
    A provider is a folder ``providers/X/``; its modules import no other
    provider folder ``providers/Y/``. What sits directly in providers/ (the
    shared ``providers/__init__.py``) is not a provider and may be imported,
    and so may the shared folders in ``SHARED`` (``providers/server/``: the
    V2 model server that the local, docker and ray providers all run).
private-import
    An underscored name is private to the package that defines it. A name is
    underscored when it starts with ``_`` and is not a dunder (``__x__``), and
    it may be a module segment (``mlform.engine.expr.functions._core``) or an
    imported symbol (``from mlform.engine.plan.planner import _attach``). Its
    *owner* is what the dotted name before it names: a package (folder) or a
    module (its folder). The importing module's own package is the folder that
    holds its file. The import is allowed only when that folder is the owner's
    folder or one of its sub-folders: a package and its sub-packages may use
    its private names; every other module (a sibling or parent package,
    another top-level package, a third-party or standard-library module) may
    not.
file-too-long
    No ``.py`` file has more than 400 physical lines (counted as line breaks,
    plus one for a last line without one): split it along its concepts.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

MAX_LINES = 400
# source folder -> the package it installs as
PACKAGES = {"engine": "mlform.engine", "providers": "mlform.providers", "schemas": "mlform.schemas"}
PROVIDERS = "mlform.providers"
# folders under providers/ that are libraries shared by providers, not providers themselves
SHARED = frozenset({"server"})
CLI_PACKAGES = ("mlform.engine.cli", "mlform.engine.commands")


@dataclass(frozen=True, order=True)
class Violation:
    """One broken rule, at a line of a file (``path`` relative to the root)."""

    path: str
    line: int
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: {self.detail}"


@dataclass(frozen=True)
class Import:
    """One imported name, resolved to an absolute dotted name, and how it was written."""

    line: int
    target: str
    written: str
    statement: bool = True  # False for each name of a ``from`` import (its module is reported first)


def module_name(rel: Path) -> str | None:
    """The dotted module name of a file, relative to the root (``engine/load/hcl.py`` -> ``mlform.engine.load.hcl``)."""
    parts = list(rel.with_suffix("").parts)
    if not parts or parts[0] not in PACKAGES:
        return None
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGES[parts[0]], *parts[1:]])


def _is_private(segment: str) -> bool:
    return segment.startswith("_") and not (segment.startswith("__") and segment.endswith("__"))


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imports_of(tree: ast.AST, module: str, is_package: bool) -> list[Import]:
    """Every name ``tree`` (the module ``module``) imports, resolved to absolute dotted names."""
    here = module.split(".") if is_package else module.split(".")[:-1]
    out: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.append(Import(node.lineno, alias.name, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                keep = len(here) - (node.level - 1)
                base_parts = here[:keep] if keep > 0 else []
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            written_from = "." * node.level + (node.module or "")
            shown = f" (= {base})" if node.level else ""
            names = ", ".join(a.name for a in node.names)
            # the module itself, then each name imported from it
            out.append(Import(node.lineno, base, f"from {written_from} import {names}{shown}"))
            for alias in node.names:
                if alias.name != "*":
                    out.append(Import(node.lineno, f"{base}.{alias.name}" if base else alias.name,
                                      f"from {written_from} import {alias.name}{shown}", statement=False))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fn = node.func
            called = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if called in ("import_module", "__import__"):
                out.append(Import(node.lineno, node.args[0].value, f"{called}({node.args[0].value!r})"))
    return out


def _folder_of(owner: str, root: Path) -> Path | None:
    """The folder of the package or module ``owner`` in this tree (None when it is not ours)."""
    for folder, package in PACKAGES.items():
        if _within(owner, package):
            path = root / folder / Path(*owner[len(package):].lstrip(".").split(".")) \
                if owner != package else root / folder
            if path.is_dir():
                return path
            if path.with_suffix(".py").is_file():
                return path.parent
            return None
    return None


def _private_owner(target: str) -> str | None:
    """The dotted name that owns the first underscored segment of ``target`` ('' for a top-level one)."""
    parts = target.split(".")
    for i, seg in enumerate(parts):
        if _is_private(seg):
            return ".".join(parts[:i])
    return None


def _provider_folder(module: str) -> str | None:
    """``X`` for a module of the provider folder providers/X/ (None for providers/__init__.py)."""
    if not _within(module, PROVIDERS) or module == PROVIDERS:
        return None
    folder = module[len(PROVIDERS) + 1:].split(".")[0]
    return None if folder in SHARED else folder


def check_file(path: Path, root: Path) -> list[Violation]:
    """The violations of one ``.py`` file under ``root``."""
    rel = path.relative_to(root)
    shown = rel.as_posix()
    text = path.read_text(encoding="utf-8")
    out: list[Violation] = []
    lines = text.count("\n") + (1 if text and not text.endswith("\n") else 0)
    if lines > MAX_LINES:
        out.append(Violation(shown, MAX_LINES + 1, "file-too-long", f"{lines} lines (at most {MAX_LINES})"))
    module = module_name(rel)
    if module is None:
        return out
    try:
        tree = ast.parse(text, filename=shown)
    except SyntaxError as exc:
        return out + [Violation(shown, exc.lineno or 1, "syntax-error", exc.msg)]
    own_folder = path.parent
    provider = _provider_folder(module)
    provider_dirs = {p.name for p in (root / "providers").iterdir() if p.is_dir() and p.name != "__pycache__"} \
        if (root / "providers").is_dir() else set()
    whole: set[tuple[int, str]] = set()  # (line, rule) already reported for a whole statement

    def report(imp: Import, rule: str) -> None:
        if (imp.line, rule) in whole:
            return
        if imp.statement:
            whole.add((imp.line, rule))
        out.append(Violation(shown, imp.line, rule, imp.written))

    for imp in imports_of(tree, module, path.name == "__init__.py"):
        t = imp.target
        if rel.parts[0] == "engine" and _within(t, PROVIDERS):
            report(imp, "engine-imports-provider")
        if rel.parts[0] == "providers" and any(_within(t, c) for c in CLI_PACKAGES):
            report(imp, "provider-imports-cli")
        if provider is not None:
            other = _provider_folder(t)
            if other is not None and other != provider and other in provider_dirs:
                report(imp, "provider-imports-provider")
        owner = _private_owner(t)
        if owner is not None:
            folder = _folder_of(owner, root) if owner else None
            if folder is None or not own_folder.resolve().is_relative_to(folder.resolve()):
                report(imp, "private-import")
    return out


def check(root: Path) -> list[Violation]:
    """Every violation under ``root``'s engine/, providers/ and schemas/, in file and line order."""
    out: list[Violation] = []
    for folder in PACKAGES:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            if "__pycache__" not in path.parts:
                out += check_file(path, root)
    return sorted(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent,
                    help="the repository root (default: this checkout)")
    args = ap.parse_args(argv)
    violations = check(args.root)
    for v in violations:
        print(v)
    if violations:
        print(f"{len(violations)} layout violation(s); the rules are in {Path(__file__).name}'s docstring",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
