"""fmt: canonical layout of *.mlf.hcl (indentation and aligned `=`)."""

from __future__ import annotations

import difflib
import re
import sys

from mlform.engine.cli import common as C

_ATTR = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.*)$")


def format_text(text: str) -> str:
    """Re-indent (2 spaces) and align `=` in runs of attributes, as ``terraform fmt`` does.

    Indentation follows hclwrite's rule: a line that opens more brackets than it
    closes indents the lines after it by one level, however many it opened; a
    line that closes more than it opens gives back the levels it closes and sits
    at the level that remains. So ``x = (1`` / ``+ 2)`` keeps ``+ 2)`` level
    with ``x``, and the lines inside ``z = [`` ... ``]`` go one level deeper.
    """
    out: list[str] = []
    levels: list[int] = []  # per open level: how many brackets its line opened
    in_heredoc: str | None = None
    for raw in text.splitlines():
        if in_heredoc is not None:
            out.append(raw)
            if raw.strip() == in_heredoc:
                in_heredoc = None
            continue
        line = raw.strip()
        if not line:
            out.append("")
            continue
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line.split("#", 1)[0].split("//", 1)[0])
        net = sum(code.count(c) for c in "{[(") - sum(code.count(c) for c in "}])")
        if net > 0:
            indent = len(levels)
            levels.append(net)
        else:
            closed = -net
            while closed > 0 and levels:
                if closed >= levels[-1]:
                    closed -= levels.pop()
                else:
                    levels[-1] -= closed
                    closed = 0
            indent = len(levels)
        m = _ATTR.match(line)
        out.append("  " * indent + (f"{m.group(2)} = {m.group(3)}" if m and "==" not in line.split("=", 1)[0] else line))
        hd = re.search(r"<<-?([A-Za-z_][A-Za-z0-9_]*)\s*$", line)
        if hd:
            in_heredoc = hd.group(1)
    return _align("\n".join(out).rstrip("\n") + "\n")


def _align(text: str) -> str:
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        j = i
        group: list[tuple[int, re.Match[str]]] = []
        while j < len(lines):
            m = _ATTR.match(lines[j])
            if not m:
                break
            if group and len(m.group(1)) != len(group[0][1].group(1)):
                break
            group.append((j, m))
            j += 1
        if len(group) > 1:
            w = max(len(m.group(2)) for _, m in group)
            for k, m in group:
                lines[k] = f"{m.group(1)}{m.group(2):<{w}} = {m.group(3)}"
        i = max(j, i + 1)
    return "\n".join(lines)


def run_fmt(s: C.Session, check: bool, diff: bool) -> int:
    from mlform.engine.load.project import config_files
    changed = 0
    for p in config_files(s.directory):
        if not p.name.endswith(".hcl"):
            continue
        old = p.read_text(encoding="utf-8")
        new = format_text(old)
        if new == old:
            continue
        changed += 1
        sys.stdout.write(p.name + "\n")
        if diff:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                       f"old/{p.name}", f"new/{p.name}"))
        if not check:
            p.write_text(new, encoding="utf-8")
    # 1, not Terraform's 3: exit code 3 means a policy refusal (docs/cli.md, Exit codes).
    return 1 if (check and changed) else 0
