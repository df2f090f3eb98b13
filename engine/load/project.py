"""Find and parse a project's files, with a parse cache keyed by content.

Parsing costs ~0.1 s per 1,000 blocks with the hand-written parser
(``fastparse``; python-hcl2 takes over for anything it does not handle), so
each parsed file is stored under ``.mlform/cache/parse/<sha256>.ast`` in the
compact encoding of ``astcodec``; an unchanged file is never parsed twice.
The key covers the file's name and content, the encoding's version and the
loader's own code (size and mtime of its modules), so a new mlform never
reads an old entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostic, Diagnostics, DiagnosticsError, Pos, SourceRange, error
from mlform.engine.load import ast as A

CACHE_VERSION = "2"
_LOADER_MODULES = ("ast.py", "hcl.py", "hcltree.py", "hclbuild.py", "hclerrors.py", "hcltemplate.py", "fastparse.py",
                   "fastlex.py", "fastpos.py", "fastexpr.py", "fasttemplate.py", "astcodec.py", "project.py",
                   "jsonpos.py", "depth.py")
_stamp: str | None = None


def _code_stamp() -> str:
    """Identifies this mlform's loader code: a parse-cache entry from other code is a miss."""
    global _stamp
    if _stamp is None:
        here = Path(__file__).parent
        parts = [CACHE_VERSION]
        for name in _LOADER_MODULES:
            try:
                st = (here / name).stat()
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
            except OSError:
                parts.append(name)
        _stamp = ";".join(parts)
    return _stamp
CONFIG_GLOBS = ("*.mlf.hcl", "*.mlf.json")


@dataclass
class LoadedProject:
    """The raw files of a project, in name order, and their sources."""

    directory: Path
    files: list[A.File] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    # the files of shared policy sets (also in ``files``, policy blocks only): displayed name ->
    # path relative to the project, as written (engine/policy/sets.py)
    policy_files: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        """Digest of the configuration: every config file's name and content, and every policy
        set file's path (relative to the project) and content."""
        h = hashlib.sha256()
        for f in self.files:
            name = self.policy_files.get(f.filename) or os.path.basename(f.filename)
            h.update(name.encode() + b"\0" + f.digest.encode() + b"\0")
        return h.hexdigest()


def config_files(directory: Path) -> list[Path]:
    out: list[Path] = []
    for pat in CONFIG_GLOBS:
        out += directory.glob(pat)
    return sorted(p for p in out if p.is_file())


def _cache_dir(directory: Path) -> Path:
    return directory / ".mlform" / "cache" / "parse"


def parse_file(path: Path, display: str, text: str, cache: Path | None) -> A.File:
    """Parse one file, going through the content-addressed cache."""
    from mlform.engine.load import astcodec

    key = f"{_code_stamp()};{astcodec.FORMAT}\0{display}\0{text}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    cached = cache / f"{digest}.ast" if cache else None
    if cached is not None:
        try:
            with open(cached, "rb") as fh:
                data = fh.read()
            return astcodec.decode(data)
        except (OSError, ValueError):  # absent or corrupt: only a miss
            pass
    if path.name.endswith(".json"):
        f = parse_json(text, display)
    else:
        f = parse_hcl(text, display)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            tmp = cached.with_suffix(f".{os.getpid()}.tmp")
            encoded = astcodec.encode(f)
            if encoded is not None:
                with open(tmp, "wb") as fh:
                    fh.write(encoded)
                os.replace(tmp, cached)
        except OSError:
            pass
    return f


def parse_hcl(text: str, display: str) -> A.File:
    """The hand-written parser, or python-hcl2 for what it leaves (syntax errors included).

    python-hcl2 and lark are imported only then: importing them costs ~0.2 s.
    """
    from mlform.engine.load import fastparse
    from mlform.engine.load.depth import check_file, check_text

    check_text(text, display)  # at the bracket; the fast parser leaves deeper nesting to python-hcl2
    try:
        return fastparse.parse(text, display)
    except Exception:  # noqa: BLE001 - Fallback, or a fast-path bug: python-hcl2 decides
        pass
    from mlform.engine.load.hcl import parse_text_lark

    return check_file(parse_text_lark(text, display))


def load_project(directory: Path, use_cache: bool = True) -> tuple[LoadedProject, Diagnostics]:
    """Parse every ``*.mlf.hcl`` / ``*.mlf.json`` directly in ``directory``.

    Returns the project and the diagnostics of every file (all files are
    parsed even when one fails, so a person sees every syntax error at once).
    """
    diags = Diagnostics()
    proj = LoadedProject(directory)
    files = config_files(directory)
    if not files:
        diags.error("No configuration files",
                    f"The directory {directory} has no *.mlf.hcl files. "
                    "Run mlform in a project directory, or pass --chdir DIR.")
        return proj, diags
    cache = _cache_dir(directory) if use_cache else None
    for p in files:
        display = os.path.relpath(p, Path.cwd()) if p.is_absolute() else str(p)
        if display.startswith(".."):
            display = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            diags.error("Cannot read configuration file", f"{p}: {exc}")
            continue
        proj.sources[display] = text
        try:
            proj.files.append(parse_file(p, display, text, cache))
        except DiagnosticsError as de:
            diags.extend(de.diagnostics)
    _add_policy_sets(proj, diags, cache)
    return proj, diags


def _add_policy_sets(proj: LoadedProject, diags: Diagnostics, cache: Path | None) -> None:
    """The ``policies/`` folder and ``policy_paths`` (docs/policies.md#policy-sets)."""
    from mlform.engine.policy.sets import load_policy_sets

    shown = os.path.relpath(proj.directory, Path.cwd()) if proj.directory.is_absolute() else str(proj.directory)
    if shown.startswith(".."):
        shown = str(proj.directory)
    found, texts, d = load_policy_sets(proj.directory, proj.files, shown,
                                       lambda p, display, text: parse_file(p, display, text, cache))
    proj.sources.update(texts)
    for key, f in found:
        proj.files.append(f)
        proj.policy_files[f.filename] = key
    diags.extend(d)


# --- JSON syntax ---------------------------------------------------------------

# Keys that are nested blocks (not object-valued attributes) in JSON configs.
_JSON_BLOCKS = {"constraints", "autoscaling", "rollout", "rollback_when", "lifecycle", "validation",
                "metric", "assert", "backend"}
_LABELLED = {"provider": 1, "variable": 1, "output": 1, "policy": 1, "model": 1, "prompt": 1,
             "eval_suite": 1, "endpoint": 1, "metric": 1, "assert": 1, "backend": 1}


def parse_json(text: str, filename: str) -> A.File:
    """The JSON form of a config: same structure, strings are templates.

    Every attribute, value and block carries its real ``line:col`` (from
    :mod:`~mlform.engine.load.jsonpos`), so diagnostics point into the file.
    """
    from mlform.engine.load import jsonpos
    from mlform.engine.load.depth import check_file, check_text

    check_text(text, filename)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        rng = SourceRange(filename, Pos(exc.lineno, exc.colno), Pos(exc.lineno, exc.colno))
        raise DiagnosticsError(error("Invalid JSON", f"{exc.msg}. Fix the JSON syntax here.", rng)) from None
    except ValueError:  # an integer of more digits than Python converts
        raise DiagnosticsError(_long_number(text, filename)) from None
    root = jsonpos.parse(text, filename)
    if not isinstance(data, dict):
        raise DiagnosticsError(error("Invalid JSON configuration", "The top level must be an object.", root.rng))
    body = _json_body(root, filename, top=True)
    return check_file(A.File(filename, body, hashlib.sha256(text.encode()).hexdigest()))


def _long_number(text: str, filename: str) -> Diagnostic:
    limit = sys.get_int_max_str_digits()
    m = re.search(r"\d{%d,}" % (limit + 1), text)
    i = m.start() if m else 0
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    n = len(m.group()) if m else 0
    return error("Invalid number literal", f"This number has {n:,} digits; mlform reads at most {limit:,}. "
                 "Write it in exponent form (1e5000) or as a string.",
                 SourceRange(filename, Pos(line, col), Pos(line, col + n)))


def _json_body(node: Any, fn: str, top: bool = False) -> A.Body:
    attrs: dict[str, A.Attribute] = {}
    blocks: list[A.Block] = []
    items = node.value if isinstance(node.value, dict) else {}
    for k, (krng, v) in items.items():
        if (top or k in _JSON_BLOCKS) and isinstance(v.value, (dict, list)):
            nlab = _LABELLED.get(k, 0) if (top or k in ("metric", "assert", "backend")) else 0
            for item in (v.value if isinstance(v.value, list) else [v]):
                blocks += _json_blocks(k, krng, item, nlab, fn)
        else:
            attrs[k] = A.Attribute(k, _json_expr(v, fn), _span(krng, v.rng), krng)
    return A.Body(attrs, blocks, node.rng)


def _span(a: SourceRange, b: SourceRange) -> SourceRange:
    return SourceRange(a.filename, a.start, b.end)


def _json_blocks(type_: str, trng: SourceRange, v: Any, nlab: int, fn: str) -> list[A.Block]:
    if nlab == 0:
        return [A.Block(type_, [], _json_body(v, fn), trng)]
    out: list[A.Block] = []
    for label, (lrng, inner) in (v.value.items() if isinstance(v.value, dict) else []):
        # the header is "type": { "label": ...: from the type's key to the label's
        header = _span(trng, lrng) if trng.start.line == lrng.start.line else lrng
        for it in (inner.value if isinstance(inner.value, list) else [inner]):
            out.append(A.Block(type_, [label], _json_body(it, fn), header, [lrng]))
    return out


def _json_expr(node: Any, fn: str) -> A.Expr:
    v, rng = node.value, node.rng
    if isinstance(v, str):
        from mlform.engine.load.hcl import parse_template

        # a template's own positions start after the opening quote
        return parse_template(v, fn, rng.start.line, rng.start.col + 1, rng) if ("${" in v or "%{" in v) \
            else A.Literal(v, rng)
    if isinstance(v, list):
        return A.TupleExpr([_json_expr(x, fn) for x in v], rng)
    if isinstance(v, dict):
        return A.ObjectExpr([(A.Literal(k, krng), _json_expr(x, fn)) for k, (krng, x) in v.items()], rng)
    return A.Literal(v, rng)
