"""mlform fmt: canonical layout, --check, --diff."""

from pathlib import Path

from mlform.engine.cli.main import main

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
