"""engine.eval loads its modules on first use; its three lists of public names agree."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import mlform.engine.eval as E

INIT = Path(E.__file__)


def _type_checking_imports() -> dict[str, str]:
    """Name -> module of the ``if TYPE_CHECKING:`` imports (what type checkers see)."""
    tree = ast.parse(INIT.read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    return {a.name: str(imp.module) for imp in block.body if isinstance(imp, ast.ImportFrom) for a in imp.names}


def test_all_lazy_table_and_type_checking_imports_name_the_same_things() -> None:
    assert sorted(E.__all__) == sorted(E._EXPORTS)
    assert _type_checking_imports() == E._EXPORTS


def test_every_public_name_resolves_to_its_module_object() -> None:
    for name, module in E._EXPORTS.items():
        assert getattr(E, name) is getattr(importlib.import_module(f"{E.__name__}.{module}"), name)


def test_reading_a_suite_spec_does_not_load_the_runner_or_http_client() -> None:
    code = ("import sys, mlform.engine.eval as E; E.SuiteSpec; E.Digests; "
            "print(sorted(m for m in ('httpx', 'onnxruntime', 'mlform.engine.eval.runner') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
