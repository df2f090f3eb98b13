"""Static checks of prompt and eval_suite blocks, as `mlform validate` / `plan` report them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BASE = '''
model "m" {
  source = "m.pt"
  format = "torchscript"
}
endpoint "llm" {
  model = model.m
}
endpoint "judge" {
  model = model.m
}
prompt "p" {
  template  = "Review: {{ review }} in {{ lang }}"
  variables = ["review"]
}
'''


def run(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlform.engine.cli.main", *args], cwd=proj, text=True,
                          capture_output=True, timeout=120)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    (tmp_path / "m.pt").write_bytes(b"not loaded by validate or plan")
    (tmp_path / "d.jsonl").write_text(json.dumps({"input": {"review": "x"}, "expected": "positive"}) + "\n")
    return tmp_path


def line_of(text: str, needle: str) -> int:
    return next(i for i, x in enumerate(text.splitlines(), 1) if needle in x)


def test_validate_reports_every_prompt_and_suite_mistake_at_its_line(proj: Path) -> None:
    cfg = BASE + '''
eval_suite "s" {
  target  = prompt.p
  dataset = "d.jsonl"
  assert "contains" {
    value = "positive"
  }
  assert "llm_judge" {
    rubric = "Names the sentiment."
  }
  assert "regex" {
    pattern = "(unclosed"
  }
  assert "llm_judge" {
    judge   = endpoint.judge
    rubric  = "ok"
    verdict = "stars"
  }
}
'''
    (proj / "main.mlf.hcl").write_text(cfg)
    r = run(proj, "validate")
    assert r.returncode == 1
    err = r.stderr
    assert "Traceback" not in err
    assert f"Error: Undeclared prompt placeholder\n\n  on main.mlf.hcl:{line_of(cfg, 'template  =')}:" in err
    assert "{{ lang }}" in err
    # Each assertion's problem points at that assert block, not the first one.
    first_judge, regex = line_of(cfg, 'assert "llm_judge" {'), line_of(cfg, 'assert "regex"')
    assert f'Error: Assertion "llm_judge" has no judge\n\n  on main.mlf.hcl:{first_judge}:' in err
    assert f"Error: Invalid regular expression\n\n  on main.mlf.hcl:{regex}:" in err
    last_judge = [i for i, x in enumerate(cfg.splitlines(), 1) if 'assert "llm_judge"' in x][-1]
    assert f"Error: Invalid assertion\n\n  on main.mlf.hcl:{last_judge}:" in err
    assert 'verdict = "stars": use "pass_fail" or "score"' in err


def test_one_judge_per_suite(proj: Path) -> None:
    cfg = BASE.replace('template  = "Review: {{ review }} in {{ lang }}"', 'template  = "Review: {{ review }}"') + '''
eval_suite "s" {
  target   = prompt.p
  endpoint = endpoint.llm
  judge    = endpoint.judge
  dataset  = "d.jsonl"
  assert "llm_judge" {
    rubric = "a"
  }
  assert "llm_judge" {
    judge  = endpoint.llm
    rubric = "b"
  }
}
'''
    (proj / "main.mlf.hcl").write_text(cfg)
    r = run(proj, "plan")
    assert r.returncode == 1
    assert "Error: Different judges in one suite" in r.stderr
    assert "endpoint.judge, endpoint.llm" in r.stderr
    assert f"on main.mlf.hcl:{line_of(cfg, 'judge    = endpoint.judge')}:" in r.stderr


def test_plan_shows_the_suite_and_its_judge(proj: Path) -> None:
    cfg = BASE.replace('template  = "Review: {{ review }} in {{ lang }}"', 'template  = "Review: {{ review }}"') + '''
eval_suite "s" {
  target   = prompt.p
  endpoint = endpoint.llm
  judge    = endpoint.judge
  dataset  = "d.jsonl"
  assert "llm_judge" {
    rubric  = "Names the sentiment."
    verdict = "score"
  }
}
'''
    (proj / "main.mlf.hcl").write_text(cfg)
    r = run(proj, "validate")
    assert r.returncode == 0, r.stderr
    r = run(proj, "plan")
    assert r.returncode == 0, r.stderr
    assert "Eval suites this apply will run: eval_suite.s" in r.stdout
    # the suite's block names what it evaluates, where, and who judges it
    block = r.stdout[r.stdout.index('+ eval_suite "s" {'):r.stdout.index("# model.m will be created")]
    judge = block[block.index("+ judge"):block.index("+ passed")]
    assert 'address             = "endpoint.judge"' in judge
    endpoint = block[block.index("+ endpoint "):block.index("+ judge")]
    assert 'address             = "endpoint.llm"' in endpoint
    assert 'address   = "prompt.p"' in block
    assert '+ kind    = "llm_judge"' in block and '+ rubric  = "Names the sentiment."' in block
    assert "+ passed         = (known after apply)" in block


def test_a_prompt_suite_without_an_endpoint_is_refused_by_plan(proj: Path) -> None:
    # References are unknown to validate, so plan (which knows the target is a prompt) reports it.
    cfg = BASE.replace('template  = "Review: {{ review }} in {{ lang }}"', 'template  = "Review: {{ review }}"') + \
        '''
eval_suite "s" {
  target  = prompt.p
  dataset = "d.jsonl"
  assert "contains" {
    value = "positive"
  }
}
'''
    (proj / "main.mlf.hcl").write_text(cfg)
    r = run(proj, "plan")
    assert r.returncode == 1
    assert f"Error: A prompt suite needs an endpoint\n\n  on main.mlf.hcl:{line_of(cfg, 'target  = prompt.p')}:" \
        in r.stderr
    assert "add endpoint = endpoint.NAME" in r.stderr
