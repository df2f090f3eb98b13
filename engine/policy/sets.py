"""Policy sets shared across projects (docs/policies.md#policy-sets): the ``policies/`` folder
beside the configuration and the paths of ``mlform { policy_paths = [...] }``.

Their files hold only ``policy`` blocks; anything else is an error at that block. The loader
(:func:`mlform.engine.load.project.load_project`) adds them to the project's files, each named
as the user wrote its path (``../shared-policies/gpu.hcl``), so diagnostics point into them and
the configuration digest covers them: a saved plan goes stale when a shared policy changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, SourceRange, error, warning
from mlform.engine.load import ast as A

POLICY_DIR = "policies"
POLICY_GLOBS = ("*.hcl", "*.mlf.json")


@dataclass(frozen=True)
class PolicySource:
    """A folder or file of policies: where it is, its path as written, the setting naming it."""

    path: Path
    written: str  # relative to the project, as the user wrote it
    rng: SourceRange | None  # the policy_paths item; None for the policies/ folder


def policy_sources(directory: Path, files: list[A.File], d: Diagnostics) -> list[PolicySource]:
    """``policies/`` (when it exists) and every ``policy_paths`` entry of the mlform blocks."""
    out: list[PolicySource] = []
    if (directory / POLICY_DIR).is_dir():
        out.append(PolicySource((directory / POLICY_DIR).resolve(), POLICY_DIR, None))
    for f in files:
        for b in f.body.blocks_of("mlform"):
            a = b.body.attributes.get("policy_paths")
            if a is None:
                continue
            if not isinstance(a.expr, A.TupleExpr):
                d.append(error("Invalid policy_paths", 'policy_paths is a list of folder paths, for example '
                               '`policy_paths = ["../shared-policies"]`.', a.expr.rng))
                continue
            for item in a.expr.items:
                if not (isinstance(item, A.Literal) and isinstance(item.value, str) and item.value):
                    d.append(error("Invalid policy path", "Each policy_paths entry is a literal path (a string "
                                   "without interpolations), relative to the project directory.", item.rng))
                    continue
                p = (directory / item.value).resolve()
                if not p.exists():
                    d.append(error(f'Policy path "{item.value}" not found',
                                   f"No folder or file {p}. Fix the path (it is relative to the project "
                                   "directory) or remove it from policy_paths.", item.rng))
                    continue
                out.append(PolicySource(p, item.value, item.rng))
    seen: set[Path] = set()
    unique = []
    for s in out:
        if s.path not in seen:
            seen.add(s.path)
            unique.append(s)
    return unique


def policy_paths_of(src: PolicySource, d: Diagnostics) -> list[tuple[Path, str]]:
    """The policy files of one source with their paths as written (``../shared/gpu.hcl``)."""
    if src.path.is_file():
        return [(src.path, src.written)]
    found: set[Path] = set()
    for pat in POLICY_GLOBS:
        found.update(p for p in src.path.glob(pat) if p.is_file())
    if not found and src.rng is not None:
        d.append(warning(f'No policy files in "{src.written}"',
                         "The folder holds no *.hcl or *.mlf.json file; policy_paths names folders of policy "
                         "blocks.", src.rng))
    return [(p, os.path.normpath(os.path.join(src.written, p.name))) for p in sorted(found)]


def only_policies(f: A.File, d: Diagnostics) -> A.File:
    """``f`` with its policy blocks only; every other block or argument is an error there."""
    for name, a in f.body.attributes.items():
        d.append(error("Only policies in a policy file", f'A policy file holds only policy blocks, not the '
                       f'argument "{name}". Move it to the configuration (*.mlf.hcl beside it).', a.name_rng))
    keep = []
    for b in f.body.blocks:
        if b.type == "policy":
            keep.append(b)
        else:
            d.append(error("Only policies in a policy file",
                           f'A policy file holds only policy blocks, not a "{b.type}" block. Move it to the '
                           "project's configuration (*.mlf.hcl).", b.rng))
    return A.File(f.filename, A.Body({}, keep, f.body.rng), f.digest)


def load_policy_sets(directory: Path, files: list[A.File], shown_dir: str,
                     parse: Callable[[Path, str, str], A.File]
                     ) -> tuple[list[tuple[str, A.File]], dict[str, str], Diagnostics]:
    """Parse the policy files of ``directory``'s sets. Returns (digest key, file) per file, their
    text by displayed name, and the diagnostics; ``shown_dir`` is how diagnostics name the project directory ("." when it
    is the working directory), ``parse(path, display, text)`` parses one file."""
    d = Diagnostics()
    out: list[tuple[str, A.File]] = []
    texts: dict[str, str] = {}
    seen: set[Path] = set()
    for src in policy_sources(directory, files, d):
        for path, written in policy_paths_of(src, d):
            if path in seen:
                continue
            seen.add(path)
            display = written if os.path.isabs(written) else os.path.normpath(os.path.join(shown_dir, written))
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                d.append(error("Cannot read policy file", f"{path}: {exc}", src.rng))
                continue
            texts[display] = text
            try:
                parsed = parse(path, display, text)
            except DiagnosticsError as de:
                d.extend(de.diagnostics)
                continue
            out.append((written, only_policies(parsed, d)))
    return out, texts, d


__all__ = ["POLICY_DIR", "POLICY_GLOBS", "PolicySource", "load_policy_sets", "only_policies", "policy_sources"]
