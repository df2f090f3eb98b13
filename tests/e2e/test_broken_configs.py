"""The broken-config corpus: every mistake a user can make gets a clear, positioned diagnostic.

Each case is a folder ``tests/corpus/broken/NN-name/`` with the project's
files and an ``expected.json``::

    {
      "description": "what the user did wrong",
      "phase": "validate" | "plan" | "apply",   # the first command that can notice it
      "command": ["plan", "--var", "env=dev"],  # default ["validate"]
      "steps": [...],                           # optional set-up, see _run_steps
      "summary": "...", "location": "main.mlf.hcl:3:14" | null, "detail": "substring"
    }

or, for a case with several diagnostics, ``"diagnostics": [{summary,
location, detail}, ...]``. The test runs the command and asserts what the
user sees: exit code 1, ``Error: <summary>``, ``on <file:line:col>:`` with
the echoed source line and a caret, a detail that says what to do, the
exact number of errors (nothing left out, nothing repeated) and no
traceback. Cases found by ``validate`` are also checked in ``validate --json``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.project import Project, RenderedDiagnostic, parse_diagnostics

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "broken"
CASES = sorted(p for p in CORPUS.iterdir() if p.is_dir())


def _expected(case: Path) -> dict[str, Any]:
    return json.loads((case / "expected.json").read_text())  # type: ignore[no-any-return]


def _wanted(exp: dict[str, Any]) -> list[dict[str, Any]]:
    if "diagnostics" in exp:
        return list(exp["diagnostics"])
    return [{"summary": exp["summary"], "location": exp["location"], "detail": exp["detail"]}]


def _run_steps(proj: Project, steps: list[dict[str, Any]]) -> None:
    """Set-up actions: ``run`` a command (must succeed), ``write`` files, ``edit_plan`` in place."""
    for step in steps:
        if "run" in step:
            r = proj.run(*step["run"])
            assert r.exit_code == 0, r
        elif "write" in step:
            proj.write_files(step["write"])
        elif "edit_plan" in step:
            spec = step["edit_plan"]
            doc = json.loads(proj.read(spec["file"]))
            path, value = spec["set"]
            cur = doc
            for key in path[:-1]:
                cur = cur[key]
            assert cur[path[-1]] != value, "the edit must change the plan"
            cur[path[-1]] = value  # the recorded digest is left as it was
            proj.write(spec["file"], json.dumps(doc))
        else:  # pragma: no cover - a typo in a corpus file
            raise AssertionError(f"unknown step {step}")


def _find(diags: list[RenderedDiagnostic], want: dict[str, Any]) -> RenderedDiagnostic:
    for d in diags:
        if d.summary == want["summary"] and d.location == want["location"]:
            return d
    shown = "\n".join(f"  {d.summary} @ {d.location}" for d in diags)
    raise AssertionError(f"no diagnostic {want['summary']!r} at {want['location']}; got:\n{shown}")


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 45
    for case in CASES:
        exp = _expected(case)
        assert exp["phase"] in ("validate", "plan", "apply"), case.name
        assert exp.get("description"), case.name


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_config(case: Path, tmp_project: Project) -> None:
    exp = _expected(case)
    shutil.copytree(case, tmp_project.path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.json"))
    _run_steps(tmp_project, exp.get("steps", []))
    command = exp.get("command", ["validate"])

    r = tmp_project.run(*command)

    assert r.exit_code == 1, r
    assert "Traceback" not in r.output and "internal error" not in r.output, r
    diags = parse_diagnostics(r.stderr)
    errors = [d for d in diags if d.severity == "Error"]
    wanted = _wanted(exp)
    assert len(errors) == len(wanted), r
    for want in wanted:
        d = _find(errors, want)
        assert d.detail, f"{want['summary']}: no detail says what to do"
        assert want["detail"] in d.detail
        if want["location"] is None:
            continue
        filename, line = want["location"].split(":")[:2]
        source = (tmp_project.path / filename).read_text().splitlines()
        assert d.line_no == int(line), r
        assert d.source_line == source[int(line) - 1], r
        assert d.caret is not None, r
    if exp["phase"] == "validate":
        _check_json(tmp_project, wanted)


def _check_json(proj: Project, wanted: list[dict[str, Any]]) -> None:
    r = proj.run("validate", "--json")
    assert r.exit_code == 1, r
    doc = json.loads(r.stdout)
    assert doc["valid"] is False
    assert doc["error_count"] == len(wanted)
    got = set()
    for d in doc["diagnostics"]:
        rng = d.get("range")
        loc = f"{rng['filename']}:{rng['start']['line']}:{rng['start']['column']}" if rng else None
        got.add((d["summary"], loc))
    for want in wanted:
        assert (want["summary"], want["location"]) in got
