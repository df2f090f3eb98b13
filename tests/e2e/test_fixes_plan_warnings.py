"""plan and apply show the warnings validate shows (review item 3).

A prompt that declares a variable its template never uses is a warning from
the builtin provider's validate_config; plan dropped it. Warnings do not
change exit codes.
"""

from __future__ import annotations

from tests.fixtures.project import Project, parse_diagnostics

CONFIG = '''prompt "summarize" {
  template  = "Summarize: {{ text }}"
  variables = ["text", "max_words"]
}
'''


def _unused(output: str) -> list[str]:
    return [d.location or "" for d in parse_diagnostics(output)
            if d.severity == "Warning" and d.summary == "Unused prompt variable"]


def test_validate_plan_and_apply_all_warn_about_an_unused_prompt_variable(tmp_project: Project) -> None:
    tmp_project.write("main.mlf.hcl", CONFIG)
    v = tmp_project.run("validate")
    assert v.exit_code == 0, v
    assert _unused(v.output) == ["main.mlf.hcl:3:15"], v

    p = tmp_project.run("plan", "--detailed-exitcode")
    assert p.exit_code == 2, p  # changes present; the warning does not change the code
    assert _unused(p.output) == ["main.mlf.hcl:3:15"], p

    a = tmp_project.run("apply", "--auto-approve")
    assert a.exit_code == 0, a
    assert _unused(a.output) == ["main.mlf.hcl:3:15"], a
    assert "Apply complete" in a.output
