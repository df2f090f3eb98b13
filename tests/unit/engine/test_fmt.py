"""mlform fmt: canonical layout, --check, --diff."""

import shutil
import subprocess
from pathlib import Path

import pytest

from mlform.engine.cli.main import main
from mlform.engine.commands.fmt import format_text

MESSY = 'model "m" {\nsource = "./m.onnx"\n    version="1"\n  metadata = { a = 1 }\n}\n'


def test_fmt_check_diff_and_rewrite(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "main.mlf.hcl"
    f.write_text(MESSY)
    assert main(["--chdir", str(tmp_path), "fmt", "--check", "--diff"]) == 1
    out = capsys.readouterr().out
    assert "main.mlf.hcl" in out and '+  version  = "1"' in out
    assert f.read_text() == MESSY  # --check never writes
    assert main(["--chdir", str(tmp_path), "fmt"]) == 0
    assert f.read_text() == 'model "m" {\n  source   = "./m.onnx"\n  version  = "1"\n  metadata = { a = 1 }\n}\n'
    assert main(["--chdir", str(tmp_path), "fmt", "--check"]) == 0


# Continuation lines, indented as `terraform fmt` (hclwrite) indents them: a line that
# opens more brackets than it closes indents what follows by one level; a line that
# closes them goes back to the level that remains. Expected texts are terraform fmt's.
CONTINUED = [
    ("locals {\nx = (1\n+ 2)\n}\n", "locals {\n  x = (1\n  + 2)\n}\n"),
    ("locals {\ny = [for v in [1, 2] : v\n* 2]\n}\n", "locals {\n  y = [for v in [1, 2] : v\n  * 2]\n}\n"),
    ("locals {\nz = [\n1,\n2,\n]\n}\n", "locals {\n  z = [\n    1,\n    2,\n  ]\n}\n"),
    ("locals {\nv = foo(1,\n2)\n}\n", "locals {\n  v = foo(1,\n  2)\n}\n"),
    ("locals {\nw = {\na = [\n1,\n]\n}\n}\n", "locals {\n  w = {\n    a = [\n      1,\n    ]\n  }\n}\n"),
    ('locals {\ns = "}" # {\nt = 1\n}\n', 'locals {\n  s = "}" # {\n  t = 1\n}\n'),
]


@pytest.mark.parametrize("text, want", CONTINUED)
def test_continuation_lines_are_indented_as_terraform_fmt_does(text: str, want: str) -> None:
    assert format_text(text) == want


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
@pytest.mark.parametrize("text, want", CONTINUED)
def test_the_expected_layouts_are_terraform_fmts_own(text: str, want: str) -> None:
    r = subprocess.run(["terraform", "fmt", "-"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == want
