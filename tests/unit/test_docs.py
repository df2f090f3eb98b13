"""The documentation stands on its own: it cites nothing outside the repository,
and every relative link in it leads to a file (and heading) that exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# Citations of the contract that lives outside the repository.
FORBIDDEN = ("SPEC §", "SPEC.md", "../shared/")  # the contract folder outside the repository, not a user path such as ../shared-policies

_FENCE = re.compile(r"^(```|~~~)")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _doc_files() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*") if p.is_file()) + [ROOT / "README.md"]


def _markdown_files() -> list[Path]:
    return sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]


def _prose(text: str) -> str:
    """The text outside fenced code blocks and inline code, line for line."""
    out, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            out.append("")
            continue
        out.append("" if fenced else _INLINE_CODE.sub("", line))
    return "\n".join(out)


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m and not fenced:
            title = m.group(1).lower()
            found.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return found


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("path", _doc_files(), ids=_rel)
def test_docs_cite_nothing_outside_the_repository(path: Path) -> None:
    text = path.read_text(encoding="utf-8", errors="replace")
    hits = [f"{_rel(path)}:{n}: {line.strip()}" for n, line in enumerate(text.splitlines(), 1)
            if any(f in line for f in FORBIDDEN)]
    assert not hits, ("The docs must state the rule themselves, or link to the docs/ page that does, "
                      "instead of citing an outside document:\n" + "\n".join(hits))


@pytest.mark.parametrize("path", _markdown_files(), ids=_rel)
def test_relative_links_point_at_existing_files(path: Path) -> None:
    broken = []
    for n, line in enumerate(_prose(path.read_text(encoding="utf-8")).splitlines(), 1):
        for target in _LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if ROOT not in dest.parents:
                broken.append(f"{_rel(path)}:{n}: {target} (outside the repository)")
            elif not dest.exists():
                broken.append(f"{_rel(path)}:{n}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{_rel(path)}:{n}: {target} (no heading #{anchor} in {dest.name})")
    assert not broken, "Broken links:\n" + "\n".join(broken)


def test_every_doc_is_in_the_index() -> None:
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    listed = set(_LINK.findall(index))
    missing = [p.name for p in sorted(DOCS.glob("*.md")) if p.name != "README.md" and p.name not in listed]
    assert not missing, f"docs/README.md does not list: {', '.join(missing)}"
