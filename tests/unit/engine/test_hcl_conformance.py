"""HCL conformance: constructs Terraform accepts or rejects, as mlform reads them.

Each case in ``tests/corpus/hcl/`` is a snippet ``NN-name.hcl`` (a whole
``main.mlf.hcl``, exactly as a user writes it) and ``NN-name.json``::

    {"description": "...", "terraform": "valid" | "invalid",
     "outputs": {"o": value}                       # valid: what `mlform output` shows after apply
     "fast_path": false                            # valid, but left to python-hcl2 (default true)
     "error": {"summary": "...", "location": "main.mlf.hcl:L:C", "detail": "substring",
               "same_as_terraform": true}}         # Terraform's summary word for word

(a valid snippet with an ``error`` is valid HCL that mlform refuses later).

Every case runs through both parsers (the hand-written one must take every
valid snippet and give up on every invalid one; python-hcl2's path must
accept the valid ones and report the expected diagnostic for the others)
and through the CLI. Where ``terraform`` is installed, ``terraform fmt -``
(a syntax check) confirms that the expectation is Terraform's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.load import fastparse
from mlform.engine.load.astcodec import dump
from mlform.engine.load.hcl import parse_text, parse_text_lark
from tests.fixtures.project import Project, parse_diagnostics

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "hcl"
CASES = sorted(p.with_suffix("") for p in CORPUS.glob("*.hcl"))
IDS = [p.name for p in CASES]


def _case(stem: Path) -> tuple[str, dict[str, Any]]:
    text = stem.with_suffix(".hcl").read_bytes().decode("utf-8")
    return text, json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))


def test_the_corpus_has_both_kinds() -> None:
    kinds = [_case(c)[1]["terraform"] for c in CASES]
    assert kinds.count("valid") >= 10 and kinds.count("invalid") >= 10


@pytest.mark.parametrize("stem", CASES, ids=IDS)
def test_both_parsers(stem: Path) -> None:
    text, exp = _case(stem)
    if exp["terraform"] == "valid":
        want = dump(parse_text_lark(text, "main.mlf.hcl"))
        if not exp.get("fast_path", True):
            with pytest.raises(fastparse.Fallback):  # python-hcl2 merges the line break into the operator
                fastparse.parse(text, "main.mlf.hcl")
            assert dump(parse_text(text, "main.mlf.hcl")) == want
            return
        fast = fastparse.parse(text, "main.mlf.hcl")  # no Fallback: valid HCL stays on the fast path
        assert dump(fast) == want
        return
    with pytest.raises(fastparse.Fallback):
        fastparse.parse(text, "main.mlf.hcl")
    for parse in (parse_text_lark, parse_text):
        with pytest.raises(DiagnosticsError) as info:
            parse(text, "main.mlf.hcl")
        d = list(info.value.diagnostics)[0]
        assert d.range is not None
        where = f"{d.range.filename}:{d.range.start.line}:{d.range.start.col}"
        assert (d.summary, where) == (exp["error"]["summary"], exp["error"]["location"])
        assert exp["error"]["detail"] in d.detail


@pytest.mark.parametrize("stem", CASES, ids=IDS)
def test_the_cli(stem: Path, tmp_project: Project) -> None:
    text, exp = _case(stem)
    tmp_project.write("main.mlf.hcl", text.encode("utf-8"))
    r = tmp_project.run("validate")
    assert "Traceback" not in r.output
    if "outputs" in exp:
        assert r.exit_code == 0, r
        r = tmp_project.run("apply", "--auto-approve")
        assert r.exit_code == 0, r
        r = tmp_project.run("output", "--json")
        got = {k: v["value"] for k, v in json.loads(r.stdout).items()}
        assert got == exp["outputs"]
        return
    assert r.exit_code == 1, r
    diags = parse_diagnostics(r.output)
    assert len(diags) == 1, r
    want = exp["error"]
    assert diags[0].summary == want["summary"]
    assert want["detail"] in diags[0].detail
    if "location" in want:
        assert diags[0].location == want["location"]


TERRAFORM = shutil.which("terraform")


@pytest.mark.skipif(TERRAFORM is None, reason="terraform is not installed: the expectations are not re-checked")
@pytest.mark.parametrize("stem", CASES, ids=IDS)
def test_terraform_agrees(stem: Path, tmp_path: Path) -> None:
    """``terraform fmt -`` checks syntax only: exit 0 for valid HCL, non-zero with a diagnostic otherwise."""
    text, exp = _case(stem)
    assert TERRAFORM is not None
    proc = subprocess.run([TERRAFORM, "fmt", "-no-color", "-"], input=text.encode("utf-8"), capture_output=True,
                          timeout=60, check=False, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TF_IN_AUTOMATION": "1"})
    err = proc.stderr.decode("utf-8", "replace")
    if exp["terraform"] == "valid":
        assert proc.returncode == 0, err
        return
    assert proc.returncode != 0, f"terraform accepts {stem.name}"
    if exp["error"].get("same_as_terraform"):
        assert f"Error: {exp['error']['summary']}" in err, err
