"""conftest-style Rego policies over plan JSON (``mlform policy check --rego DIR``), with the
Rego engine of the ``mlform[rego]`` extra (regopy).

Every ``*.rego`` file under each directory is loaded (``*_test.rego`` files are left out, as
conftest does), the plan JSON (docs/plan-format.md) is the ``input``, and in each namespace
asked for (``main`` unless told) the rules ``deny``, ``violation`` and ``warn`` (and
``deny_*``, ``violation_*``, ``warn_*``) give policy results: a message each, or one passing
result for a rule with none. See docs/policies.md#rego for the result objects and the
enforcement levels.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, Pos, SourceRange, error, warning
from mlform.engine.plan.model import Plan, PolicyResult

LEVELS = ("advisory", "soft_mandatory", "hard_mandatory")
_RULE = re.compile(r"^(deny|violation|warn)(_\w+)?$")
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)", re.M)
_ERROR = re.compile(r"\(error \d+:(?P<file>[^|]*)\|(?P<off>\d+)\|\d+\s*\(errormsg \d+:(?P<msg>[^)]*)\)")


@dataclass
class RegoFile:
    path: Path
    name: str  # as diagnostics show it
    text: str
    package: str


def find_files(dirs: list[Path], shown: Path) -> tuple[list[RegoFile], Diagnostics]:
    d = Diagnostics()
    out: list[RegoFile] = []
    for base in dirs:
        if not base.is_dir():
            d.append(error(f"No Rego policy directory {base}", "--rego takes a directory of *.rego files."))
            continue
        for p in sorted(base.rglob("*.rego")):
            if p.name.endswith("_test.rego"):
                continue
            text = p.read_text(encoding="utf-8")
            m = _PACKAGE.search(text)
            out.append(RegoFile(p, _shown(p, shown), text, m.group(1) if m else ""))
        if not any(base.rglob("*.rego")):
            d.append(warning(f"No Rego policies in {_shown(base, shown)}", "The directory holds no *.rego file."))
    return out, d


def _shown(p: Path, base: Path) -> str:
    try:
        return os.path.relpath(p, base)
    except ValueError:
        return str(p)


def _pos(text: str, offset: int) -> Pos:
    before = text.encode("utf-8")[:offset].decode("utf-8", "replace")
    return Pos(before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)


@contextlib.contextmanager
def _quiet_native() -> Iterator[list[str]]:
    """The engine prints parse errors on the process's stdout itself: catch them (they would
    break ``policy check --json``); the caller reports them as diagnostics."""
    captured: list[str] = []
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1)
        os.dup2(tmp.fileno(), 1)
        try:
            yield captured
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            tmp.seek(0)
            captured.append(tmp.read().decode("utf-8", "replace"))


def _load(files: list[RegoFile]) -> tuple[Any, Diagnostics]:
    from mlform.engine.extras import require_extra

    require_extra("rego", "Rego policies (--rego)")
    import regopy

    interp = regopy.Interpreter()
    d = Diagnostics()
    for f in files:
        try:
            with _quiet_native():
                interp.add_module(f.name, f.text)
        except regopy.RegoError as e:
            m = _ERROR.search(str(e))
            rng = None
            if m is not None:
                start = _pos(f.text, int(m.group("off")))
                rng = SourceRange(f.name, start, Pos(start.line, start.col + 1))
            why = m.group("msg") if m is not None else str(e).strip()
            d.append(error(f"Invalid Rego policy: {why}", f"Fix {f.name}; conftest and OPA would reject it too.", rng))
    return interp, d


def _messages(value: Any) -> list[Any]:
    """A rule's value as a list of results: a set (list), a partial set written the old way
    (an object of ``true``), or ``true`` for a rule without a message."""
    if value is True:
        return [None]
    if value is False or value is None:
        return []
    if isinstance(value, dict):
        if value and all(v is True for v in value.values()):
            return [_json_key(k) for k in value]
        return [value]
    if isinstance(value, list):
        return value
    return [value]


def _json_key(k: str) -> Any:
    if k.startswith("{"):
        try:
            return json.loads(k)
        except ValueError:
            return k
    return k


def _rule_range(files: list[RegoFile], package: str, rule: str) -> SourceRange | None:
    head = re.compile(rf"^({re.escape(rule)})\b", re.M)
    for f in files:
        if f.package != package:
            continue
        m = head.search(f.text)
        if m:
            start = _pos(f.text, len(f.text[:m.start()].encode("utf-8")))
            return SourceRange(f.name, start, Pos(start.line, start.col + len(rule)))
    return None


def _namespace(data: Any, ns: str) -> Any:
    for part in ns.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _namespaces(data: Any, prefix: str = "") -> Iterator[str]:
    """Every package (a path in ``data`` that holds a policy rule)."""
    if not isinstance(data, dict):
        return
    if prefix and any(_RULE.match(k) for k in data):
        yield prefix
    for k, v in data.items():
        if isinstance(v, dict) and not _RULE.match(k):
            yield from _namespaces(v, f"{prefix}.{k}" if prefix else k)


def evaluate_rego(plan_doc: dict[str, Any], files: list[RegoFile], namespaces: list[str] | None,
                  overrides: list[str]) -> tuple[list[PolicyResult], Diagnostics]:
    """Results of the Rego rules in ``namespaces`` (None: every namespace) on ``plan_doc``."""
    import regopy

    interp, d = _load(files)
    if d.has_errors:
        return [], d
    interp.set_input(plan_doc)
    try:
        with _quiet_native():
            out = str(interp.query("x := data"))
    except regopy.RegoError as e:
        return [], Diagnostics([error("Rego evaluation failed", str(e).strip())])
    except ValueError as e:  # the engine wrote a result it cannot read back itself
        return [], Diagnostics([error("Rego evaluation failed", f"The Rego engine's result could not be read ({e}). "
                                      "A string built with concat() inside sprintf() is a known cause.")])
    doc = json.loads(out) if out.strip().startswith("{") else {}
    if "bindings" not in doc:  # a runtime error: conflicting values, a failed builtin
        return [], Diagnostics([error("Rego evaluation failed", out.strip()[:2000])])
    data = doc["bindings"]["x"]
    asked = namespaces if namespaces is not None else sorted(_namespaces(data))
    results: list[PolicyResult] = []
    for ns in asked:
        pkg = _namespace(data, ns)
        if not isinstance(pkg, dict):
            d.append(warning(f'No Rego package "{ns}"', "No policy file declares it; conftest reads `package "
                             "main` unless given --namespace."))
            continue
        for rule in sorted(k for k in pkg if _RULE.match(k)):
            _rule_results(ns, rule, pkg[rule], files, overrides, results, d)
    return results, d


def _rule_results(ns: str, rule: str, value: Any, files: list[RegoFile], overrides: list[str],
                  results: list[PolicyResult], d: Diagnostics) -> None:
    default = "advisory" if rule.startswith("warn") else "hard_mandatory"
    name = f"{ns}.{rule}"
    msgs = _messages(value)
    if not msgs:
        results.append(PolicyResult(name, default, None, True, ""))
        return
    rng = _rule_range(files, ns, rule)
    for m in msgs:
        obj = m if isinstance(m, dict) else {}
        msg = str(obj.get("msg", json.dumps(m, sort_keys=True))) if obj else (name if m is None else str(m))
        level = str(obj["enforcement"]) if obj.get("enforcement") in LEVELS else default
        policy = str(obj.get("policy") or name)
        addr = obj.get("address") if isinstance(obj.get("address"), str) else None
        overridden = level == "soft_mandatory" and policy in overrides
        results.append(PolicyResult(policy, level, addr, False, msg, overridden))
        where = f" for {addr}" if addr else ""
        if level == "advisory" or overridden:
            d.append(warning(f'Rego policy "{policy}" failed{where}' + (" (overridden)" if overridden else ""),
                             msg, rng, address=addr))
        else:
            hint = (f'Override it with --override-policy {policy} --reason "WHY" (recorded in history).'
                    if level == "soft_mandatory" else "This policy is hard-mandatory.")
            d.append(error(f'Rego policy "{policy}" refused the plan{where}', f"{msg}\n\n{hint}", rng,
                           address=addr))


def evaluate_rego_dirs(plan: Plan, cfg: Any, dirs: list[Path], overrides: list[str],
                       namespaces: list[str] | None = None, shown: Path | None = None
                       ) -> tuple[list[PolicyResult], Diagnostics, dict[str, str]]:
    """Load the policies in ``dirs`` and evaluate them on ``plan``'s plan JSON, in ``namespaces``
    (None: every package). Also returns the files' text by shown name, for diagnostics to quote."""
    from mlform.engine.plan.json_view import plan_json

    files, d = find_files(dirs, shown or Path.cwd())
    if d.has_errors:
        return [], d, {}
    try:
        results, rd = evaluate_rego(plan_json(plan, cfg), files, namespaces, overrides)
    except DiagnosticsError as e:
        return [], Diagnostics([*d, *e.diagnostics]), {}
    return results, Diagnostics([*d, *rd]), {f.name: f.text for f in files}


__all__ = ["RegoFile", "evaluate_rego", "evaluate_rego_dirs", "find_files"]
