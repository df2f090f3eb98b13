"""mlform policy test [DIR...]: the project's policies (shared sets included, Rego with --rego)
on fixture plans, against the outcome each fixture expects (docs/policies.md#mlform-policy-test),
as ``conftest verify`` and ``sentinel test`` do. Exit 0 when every case passes, 1 otherwise."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.cli.diagnostics import render
from mlform.engine.commands.planning import policy_blocked
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, did_you_mean, error
from mlform.engine.plan.model import PolicyResult
from mlform.engine.policy.fixtures import Case, Expectation, find_fixtures, load_cases, shown


@dataclass
class Outcome:
    case: Case
    results: list[PolicyResult]
    allowed: bool
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.differences


def _where(s: C.Session, dirs: list[Path]) -> list[tuple[Path, str, bool]]:
    """The given paths (searched through), or the project directory itself and its policy sets'
    folders (searched through), each with its path as written."""
    if dirs:
        return [(s.resolve(p), str(p), True) for p in dirs]
    from mlform.engine.load.project import load_project
    from mlform.engine.policy.sets import policy_sources

    proj, _ = load_project(s.directory)
    sets = [(src.path, src.written, True) for src in policy_sources(s.directory, proj.files, Diagnostics())
            if src.path.is_dir()]
    return [(s.directory, shown(s.directory), False), *sets]


def _compare(case: Case, results: list[PolicyResult], allowed: bool) -> list[dict[str, Any]]:
    diffs: list[dict[str, Any]] = []
    for ex in case.expect:
        mine = [r for r in results if r.policy == ex.policy and (ex.address is None or r.address == ex.address)]
        if not mine:
            if ex.outcome == "fail":
                diffs.append({"policy": ex.policy, "address": ex.address, "expected": "fail", "actual": None,
                              "enforcement": None, "message": "no result: the policy applies to no change of "
                              + (ex.address if ex.address else "this plan")})
            continue
        failed = [r for r in mine if not r.passed]
        actual = "fail" if failed else "pass"
        if actual != ex.outcome:
            r = (failed or mine)[0]
            diffs.append({"policy": ex.policy, "address": ex.address or r.address, "expected": ex.outcome,
                          "actual": actual, "enforcement": r.enforcement, "message": r.message if failed else ""})
    if case.allowed is not None and case.allowed != allowed:
        diffs.append({"policy": None, "address": None, "expected": "allowed" if case.allowed else "refused",
                      "actual": "allowed" if allowed else "refused", "enforcement": None,
                      "message": "; ".join(sorted({f"{r.policy} [{r.enforcement}]" for r in results if not r.passed
                                                   and r.enforcement != "advisory" and not r.overridden}))})
    return diffs


def _check_names(expectations: list[Expectation], known: set[str], rego: bool, d: Diagnostics) -> None:
    for ex in expectations:
        # with --rego, another name may be a Rego rule's (main.deny) or a result's own "policy",
        # known only once the rule fails
        if ex.policy in known or rego:
            continue
        d.append(error(f'No policy "{ex.policy}"', "The project (with its policy sets) has no such policy."
                       + did_you_mean(ex.policy, sorted(known)) + " A Rego policy is tested with --rego DIR.",
                       ex.rng))


def run_policy_test(s: C.Session, dirs: list[Path], json_out: bool = False, rego_dirs: list[Path] | None = None,
                    namespaces: list[str] | None = None, all_namespaces: bool = False) -> int:
    from mlform.engine.policy.evaluate import evaluate_policies

    cfg, _ = C.load(s)
    where = _where(s, dirs)
    files = find_fixtures(where)
    if not files:
        s.fail(Diagnostics([error("No policy tests found", "Looked for *.policytest.json in "
                                  + ", ".join(w for _, w, _ in where) + ". Write one (see docs/policies.md, "
                                  "`mlform policy test`) or name its folder: `mlform policy test DIR`.")]))
    d = Diagnostics()
    texts: dict[str, str] = {}
    seen: list[Expectation] = []
    cases = [c for p, name in files for c in load_cases(p, name, texts, d, seen)]
    s.sources.update(texts)
    rego_files: list[Any] = []
    if rego_dirs:
        from mlform.engine.policy.rego import find_files

        rego_files, rd = find_files([s.resolve(p) for p in rego_dirs], Path.cwd())
        s.sources.update({f.name: f.text for f in rego_files})
        d.extend(rd)
    _check_names(seen, set(cfg.policies), bool(rego_dirs), d)
    if d.has_errors:
        s.fail(d)
    render(d, s.sources, s.color)
    outcomes: list[Outcome] = []
    for case in cases:
        results, _ = evaluate_policies(cfg, case.plan, case.overrides)
        if rego_files:
            from mlform.engine.policy.rego import evaluate_rego

            try:  # without the rego extra: a diagnostic saying what to install
                rres, rd = evaluate_rego(case.plan_doc, rego_files,
                                         None if all_namespaces else (namespaces or ["main"]), case.overrides)
            except DiagnosticsError as e:
                s.fail(e)
            if rd.has_errors and not rres:  # Rego that does not load or run (refusals come with results)
                s.fail(Diagnostics([x for x in rd if x.is_error]))
            results = results + rres
        case.plan.policy_results = results
        allowed = not policy_blocked(case.plan)
        outcomes.append(Outcome(case, results, allowed, _compare(case, results, allowed)))
    failed = sum(1 for o in outcomes if not o.passed)
    if json_out:
        sys.stdout.write(json.dumps(_json(outcomes), indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write("".join(_lines(o, s.color) for o in outcomes))
        sys.stdout.write(f"\n{len(outcomes)} case{'s' if len(outcomes) != 1 else ''}: "
                         f"{len(outcomes) - failed} passed, {failed} failed.\n")
    return C.EXIT_ERROR if failed else C.EXIT_OK


def _lines(o: Outcome, color: bool) -> str:
    mark = "PASS" if o.passed else "FAIL"
    if color:
        mark = f"\x1b[32m{mark}\x1b[0m" if o.passed else f"\x1b[31m{mark}\x1b[0m"
    out = [f"{mark} {o.case.file}: {o.case.name}"]
    for x in o.differences:
        if x["policy"] is None:
            out.append(f"    the plan: expected {x['expected']}, got {x['actual']}"
                       + (f" (refused by {x['message']})" if x["message"] else ""))
            continue
        at = f" ({x['address']})" if x["address"] else ""
        level = f" [{x['enforcement']}]" if x["enforcement"] else ""
        got = x["actual"] or "no result"
        msg = f": {x['message']}" if x["message"] else ""
        out.append(f"    {x['policy']}{at}{level}: expected {x['expected']}, got {got}{msg}")
    return "\n".join(out) + "\n"


def _json(outcomes: list[Outcome]) -> dict[str, Any]:
    from mlform.engine.plan.json_view import policy_results_json
    from mlform.engine.plan.model import Plan

    return {
        "format_version": "1.0",
        "passed": sum(1 for o in outcomes if o.passed),
        "failed": sum(1 for o in outcomes if not o.passed),
        "cases": [{"file": o.case.file, "name": o.case.name, "line": o.case.rng.start.line, "passed": o.passed,
                   "allowed": o.allowed, "differences": o.differences,
                   "policy_results": policy_results_json(Plan(policy_results=o.results))} for o in outcomes],
    }


__all__ = ["run_policy_test"]
