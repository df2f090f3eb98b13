"""Policy test fixtures (``*.policytest.json``, docs/policies.md#mlform-policy-test): cases that
each name a plan JSON and the outcome expected of each policy on it.

```json
{"plan": "plans/gpu.json",
 "cases": [{"name": "a big GPU endpoint is refused",
            "expect": {"gpu_budget": "fail", "no_deletes": "pass"},
            "allowed": false}]}
```

A case's ``plan`` (or the file's, for every case without one) is a path relative to the fixture
file or the plan JSON inline; ``variables`` overrides the plan's variables; ``overrides`` are
``--override-policy`` names; ``expect`` maps a policy to ``"pass"`` or ``"fail"``, or to an
object of address -> outcome; ``allowed`` is whether apply would go ahead. Every mistake is a
diagnostic at its ``file:line:col``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.diagnostics import Diagnostics, SourceRange, did_you_mean, error
from mlform.engine.load.jsonpos import Node
from mlform.engine.plan.model import Plan
from mlform.engine.policy.planjson import members, plan_from_json, read_json

SUFFIX = ".policytest.json"
OUTCOMES = ("pass", "fail")
_FILE_KEYS = ("plan", "cases", "description")
_CASE_KEYS = ("name", "plan", "variables", "overrides", "expect", "allowed", "description")


@dataclass
class Expectation:
    policy: str
    outcome: str  # "pass" or "fail"
    address: str | None  # None: the policy's results together
    rng: SourceRange  # the policy's key in the fixture


@dataclass
class Case:
    file: str  # as shown
    name: str
    rng: SourceRange
    plan: Plan
    plan_doc: dict[str, Any]  # the plan JSON itself (what Rego policies read)
    expect: list[Expectation] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    allowed: bool | None = None


def shown(p: Path) -> str:
    """How a file is named in output: relative to the working directory when below it."""
    rel = os.path.relpath(p, Path.cwd())
    return str(p) if rel.startswith("..") and p.is_absolute() else rel


def find_fixtures(where: list[tuple[Path, str, bool]]) -> list[tuple[Path, str]]:
    """The fixture files in each (path, path as written, search sub-folders), with their names as
    written (``../shared-policies/tests/gpu.policytest.json``)."""
    out: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for p, written, deep in where:
        found = [p] if p.is_file() else sorted(x for x in (p.rglob if deep else p.glob)("*" + SUFFIX)
                                                 if x.is_file()) if p.is_dir() else []
        for x in found:
            if x.resolve() not in seen:
                seen.add(x.resolve())
                name = written if x == p else os.path.normpath(os.path.join(written, os.path.relpath(x, p)))
                out.append((x, name))
    return out


def load_cases(path: Path, name: str, texts: dict[str, str], d: Diagnostics, seen: list[Expectation]) -> list[Case]:
    """The cases of one fixture file; ``texts`` gets every file read, by shown name, and ``seen``
    every expectation read (those of a case with mistakes too, so their names can be checked)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        d.append(error("Cannot read policy test file", f"{path}: {exc}"))
        return []
    texts[name] = text
    root = read_json(text, name, d)
    if root is None:
        return []
    top = members(root)
    if not isinstance(root.value, dict) or not isinstance(top.get("cases", (None, Node(None, root.rng)))[1].value,
                                                          list):
        d.append(error("Invalid policy test file", 'A policy test file is an object with "cases": [ ... ] '
                       '(and optionally a "plan" for every case).', root.rng))
        return []
    _unknown_keys(top, _FILE_KEYS, "policy test file", d)
    out: list[Case] = []
    for i, item in enumerate(top["cases"][1].value):
        c = _case(path, name, i, item, top.get("plan"), texts, d, seen)
        if c is not None:
            out.append(c)
    if not top["cases"][1].value:
        d.append(error("No cases in policy test file", 'Add a case to "cases".', top["cases"][1].rng))
    return out


def _unknown_keys(f: dict[str, tuple[SourceRange, Node]], known: tuple[str, ...], what: str, d: Diagnostics) -> None:
    for k, (krng, _) in f.items():
        if k not in known:
            d.append(error(f'Unexpected key "{k}" in a {what}', "Known keys: " + ", ".join(known) + "."
                           + did_you_mean(k, known), krng))


def _case(path: Path, file: str, i: int, item: Node, default_plan: tuple[SourceRange, Node] | None,
          texts: dict[str, str], d: Diagnostics, seen: list[Expectation]) -> Case | None:
    f = members(item)
    if not isinstance(item.value, dict):
        d.append(error("Invalid policy test case", 'A case is an object with "expect" and a "plan".', item.rng))
        return None
    _unknown_keys(f, _CASE_KEYS, "policy test case", d)
    title = f["name"][1].value if "name" in f and isinstance(f["name"][1].value, str) else f"case {i + 1}"
    before = len(d.errors)
    expect = _expectations(f.get("expect"), item.rng, title, d)
    seen += expect
    where = f.get("plan") or default_plan
    if where is None:
        d.append(error(f'No plan for "{title}"', 'Give the case (or the file) a "plan": a path to plan JSON '
                       "(`mlform show -json PLANFILE > plan.json`) or the plan JSON inline.", item.rng))
        return None
    doc = _plan_doc(path, file, where[1], texts, d)
    plan = plan_from_json(doc, d) if doc is not None else None
    overrides = _strings(f["overrides"][1], "overrides", d) if "overrides" in f else []
    allowed = f["allowed"][1].value if "allowed" in f else None
    if allowed is not None and not isinstance(allowed, bool):
        d.append(error("Invalid allowed", "allowed is true or false: whether apply would go ahead.",
                       f["allowed"][1].rng))
    if plan is None or doc is None or len(d.errors) != before:
        return None
    plan_doc = doc.plain()
    if "variables" in f:
        v = f["variables"][1].plain()
        if not isinstance(v, dict):
            d.append(error("Invalid variables", "variables maps a variable's name to its value.",
                           f["variables"][1].rng))
            return None
        plan.variables.update(v)
        plan_doc["variables"] = {k: {"value": x} for k, x in sorted(plan.variables.items())}
    return Case(file, str(title), item.rng, plan, plan_doc, expect, overrides,
                allowed if isinstance(allowed, bool) else None)


def _plan_doc(path: Path, file: str, node: Node, texts: dict[str, str], d: Diagnostics) -> Node | None:
    if isinstance(node.value, dict):
        return node
    if not isinstance(node.value, str) or not node.value:
        d.append(error("Invalid plan", 'plan is a path to plan JSON (relative to this file) or the plan JSON '
                       "inline.", node.rng))
        return None
    p = (path.parent / node.value)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "no such file" if isinstance(exc, FileNotFoundError) else str(exc)
        d.append(error(f'Cannot read plan "{node.value}"', f"{p}: {why}. Paths are relative to the test file; "
                       "write the plan with `mlform show -json PLANFILE > FILE`.", node.rng))
        return None
    name = node.value if os.path.isabs(node.value) else os.path.normpath(
        os.path.join(os.path.dirname(file), node.value))
    texts[name] = text
    return read_json(text, name, d)


def _expectations(entry: tuple[SourceRange, Node] | None, rng: SourceRange, title: str,
                  d: Diagnostics) -> list[Expectation]:
    if entry is None or not isinstance(entry[1].value, dict) or not entry[1].value:
        d.append(error(f'No expectations for "{title}"', 'Give "expect": {"POLICY": "pass" or "fail", ...}; '
                       'an object of address -> outcome checks single changes.',
                       entry[1].rng if entry is not None else rng))
        return []
    out: list[Expectation] = []
    for policy, (krng, v) in members(entry[1]).items():
        if isinstance(v.value, str):
            targets: list[tuple[str | None, Node]] = [(None, v)]
        elif isinstance(v.value, dict):
            targets = [(a, n) for a, (_, n) in members(v).items()]
        else:
            targets = [(None, v)]
        for addr, n in targets:
            if n.value not in OUTCOMES:
                d.append(error("Invalid expected outcome", f'Expect "pass" or "fail" for {policy}'
                               + (f" at {addr}" if addr else "") + ", or an object of address -> outcome."
                               + did_you_mean(str(n.value), OUTCOMES), n.rng))
                continue
            out.append(Expectation(policy, str(n.value), addr, krng))
    return out


def _strings(node: Node, what: str, d: Diagnostics) -> list[str]:
    if isinstance(node.value, list) and all(isinstance(x.value, str) for x in node.value):
        return [str(x.value) for x in node.value]
    d.append(error(f"Invalid {what}", f"{what} is a list of policy names.", node.rng))
    return []


__all__ = ["Case", "Expectation", "OUTCOMES", "SUFFIX", "find_fixtures", "load_cases", "shown"]
