""".ci/check_imports.py, the layout checker, on small synthetic source trees.

Each rule gets a tree that breaks it (reported, at the right file and line)
and a tree that comes close without breaking it (not reported).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "check_imports.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_imports", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_imports"] = mod  # dataclasses look their module up by name
    spec.loader.exec_module(mod)
    return mod


ci = _load()


def tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (path -> text) under ``root``, with the __init__.py of every folder."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for parent in path.relative_to(root).parents:
            if parent != Path(".") and not (root / parent / "__init__.py").exists():
                (root / parent / "__init__.py").write_text("")
    return root


def found(root: Path, rule: str) -> list[str]:
    """The violations of ``rule``, as ``file:line: rule: import`` lines."""
    return [str(v) for v in ci.check(root) if v.rule == rule]


# --- engine-imports-provider --------------------------------------------------------------

def test_engine_importing_a_provider_module_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/commands/evals.py": "from mlform.providers.builtin.run_suite import run\n"
                                    "import mlform.providers.local.server\n"
                                    "def f():\n"
                                    "    import importlib\n"
                                    "    importlib.import_module('mlform.providers.local')\n",
        "engine/core.py": "from mlform import providers\n",
    })
    assert found(root, "engine-imports-provider") == [
        "engine/commands/evals.py:1: engine-imports-provider: from mlform.providers.builtin.run_suite import run",
        "engine/commands/evals.py:2: engine-imports-provider: import mlform.providers.local.server",
        "engine/commands/evals.py:5: engine-imports-provider: import_module('mlform.providers.local')",
        "engine/core.py:1: engine-imports-provider: from mlform import providers",
    ]


def test_engine_importing_its_own_providers_package_is_clean(tmp_path: Path) -> None:
    # mlform.engine.providers (the protocol and registry) is not mlform.providers
    root = tree(tmp_path, {
        "engine/commands/evals.py": "from mlform.engine.providers import registry\n"
                                    "from ..providers.protocol import Provider\n"
                                    "import mlform.providersx\n",
        "engine/providers/protocol.py": "Provider = object\n",
        "providers/local/provider.py": "from mlform.providers.local import server\n",
    })
    assert found(root, "engine-imports-provider") == []


# --- provider-imports-cli ------------------------------------------------------------------

def test_a_provider_importing_the_cli_or_commands_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "providers/builtin/run_suite.py": "from mlform.engine.cli import common\n"
                                          "from mlform.engine import commands\n"
                                          "import mlform.engine.commands.planning\n"
                                          "from mlform.engine.cli.progress import make_progress\n",
        "providers/__init__.py": "from mlform.engine.commands.planning import plan\n",
    })
    assert found(root, "provider-imports-cli") == [
        "providers/__init__.py:1: provider-imports-cli: from mlform.engine.commands.planning import plan",
        "providers/builtin/run_suite.py:1: provider-imports-cli: from mlform.engine.cli import common",
        "providers/builtin/run_suite.py:2: provider-imports-cli: from mlform.engine import commands",
        "providers/builtin/run_suite.py:3: provider-imports-cli: import mlform.engine.commands.planning",
        "providers/builtin/run_suite.py:4: provider-imports-cli: from mlform.engine.cli.progress import make_progress",
    ]


def test_a_provider_importing_the_rest_of_the_engine_is_clean(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "providers/builtin/run_suite.py": "from mlform.engine.diagnostics import error\n"
                                          "from mlform.engine import core, client\n"
                                          "import mlform.engine.clients\n",
        "engine/cli/common.py": "from mlform.engine.commands import planning\n",  # the CLI itself may
    })
    assert found(root, "provider-imports-cli") == []


# --- provider-imports-provider --------------------------------------------------------------

def test_a_provider_importing_another_provider_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "providers/builtin/__init__.py": "from mlform.providers.local.server.config import file_digest\n"
                                         "from mlform.providers import local\n"
                                         "from ..local import provider\n",
        "providers/local/server/config.py": "from ...builtin import evals\n",
        "providers/local/provider.py": "",
        "providers/builtin/evals.py": "",
    })
    assert found(root, "provider-imports-provider") == [
        "providers/builtin/__init__.py:1: provider-imports-provider: "
        "from mlform.providers.local.server.config import file_digest",
        "providers/builtin/__init__.py:2: provider-imports-provider: from mlform.providers import local",
        "providers/builtin/__init__.py:3: provider-imports-provider: "
        "from ..local import provider (= mlform.providers.local)",
        "providers/local/server/config.py:1: provider-imports-provider: "
        "from ...builtin import evals (= mlform.providers.builtin)",
    ]


def test_a_provider_importing_itself_and_the_shared_package_is_clean(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "providers/__init__.py": "from mlform.providers.local import LocalProvider\nSHARED = 1\n",
        "providers/local/__init__.py": "from .provider import LocalProvider\n"
                                       "from mlform.providers import SHARED\n"
                                       "import mlform.providers\n",
        "providers/local/provider.py": "from mlform.providers.local.server import config\nLocalProvider = 1\n",
        "providers/local/server/config.py": "from .. import provider\n",
        "providers/localx/__init__.py": "",
    })
    assert found(root, "provider-imports-provider") == []


def test_the_shared_server_folder_is_not_a_provider(tmp_path: Path) -> None:
    # providers/server/ is the V2 model server that several providers run: any
    # provider may import it, and it may not import a provider.
    root = tree(tmp_path, {
        "providers/docker/provider.py": "from mlform.providers.server.config import VersionSpec\n",
        "providers/ray/app.py": "from ..server import runners\n",
        "providers/server/config.py": "VersionSpec = 1\n",
        "providers/server/runners.py": "from mlform.providers.local import provider\n",
        "providers/local/provider.py": "",
    })
    assert found(root, "provider-imports-provider") == []  # a shared folder is not a provider either way
    assert found(tmp_path, "engine-imports-provider") == []


# --- private-import --------------------------------------------------------------------------

def test_an_underscored_name_from_another_package_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/plan/planner.py": "def _attach(): ...\n",
        "engine/expr/functions/_core.py": "def f(): ...\n",
        "engine/expr/eval.py": "from mlform.engine.expr.functions._core import f\n",  # parent -> child's private
        "engine/commands/validate.py": "from mlform.engine.plan.planner import _attach, plan\n"
                                       "from ..plan import planner as _p\n"
                                       "import mlform.engine.expr.functions._core\n",
        "engine/plan/sub/__init__.py": "",
        "engine/plan/sub/x.py": "def _helper(): ...\n",
        "engine/plan/context.py": "from mlform.engine.plan.sub.x import _helper\n",  # child's private
        "providers/local/server/app.py": "import importlib\nimportlib.import_module('anyio._backends._asyncio')\n"
                                         "from lark._private import thing\n",
    })
    assert found(root, "private-import") == [
        "engine/commands/validate.py:1: private-import: from mlform.engine.plan.planner import _attach",
        "engine/commands/validate.py:3: private-import: import mlform.engine.expr.functions._core",
        "engine/expr/eval.py:1: private-import: from mlform.engine.expr.functions._core import f",
        "engine/plan/context.py:1: private-import: from mlform.engine.plan.sub.x import _helper",
        "providers/local/server/app.py:2: private-import: import_module('anyio._backends._asyncio')",
        "providers/local/server/app.py:3: private-import: from lark._private import thing",
    ]


def test_an_underscored_name_in_its_own_package_or_below_is_clean(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/__init__.py": "__version__ = '1'\n",
        "engine/plan/planner.py": "from __future__ import annotations\ndef _attach(): ...\n",
        "engine/plan/render.py": "from mlform.engine.plan.planner import _attach\nfrom .planner import _attach\n",
        "engine/plan/sub/deep.py": "from mlform.engine.plan.planner import _attach\nfrom ..planner import _attach\n",
        "engine/expr/functions/_core.py": "def f(): ...\n",
        "engine/expr/functions/__init__.py": "from mlform.engine.expr.functions._core import f\n",
        "engine/expr/functions/strings.py": "from ._core import f\nfrom . import _core\n",
        "engine/cli/main.py": "from mlform.engine import __version__\n",
    })
    assert found(root, "private-import") == []


# --- file-too-long --------------------------------------------------------------------------

def test_a_file_over_400_lines_is_reported(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/load/big.py": "x = 1\n" * 401,
        "schemas/gen.py": "x = 1\n" * 400 + "y = 2",  # 401 lines, the last without a line break
    })
    assert found(root, "file-too-long") == [
        "engine/load/big.py:401: file-too-long: 401 lines (at most 400)",
        "schemas/gen.py:401: file-too-long: 401 lines (at most 400)",
    ]


def test_a_file_of_400_lines_is_clean(tmp_path: Path) -> None:
    root = tree(tmp_path, {"engine/load/ok.py": "x = 1\n" * 400, "providers/local/ok.py": "\n" * 399 + "x = 1"})
    assert found(root, "file-too-long") == []


# --- the script as CI runs it ---------------------------------------------------------------

def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--root", str(root)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_script_lists_every_violation_and_exits_1(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/commands/evals.py": "from mlform.providers.builtin import run_suite\n",
        "providers/builtin/run_suite.py": "from mlform.engine.cli import common\n",
        "engine/broken.py": "def (:\n",
    })
    r = _run(root)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "engine/broken.py:1: syntax-error: invalid syntax",
        "engine/commands/evals.py:1: engine-imports-provider: from mlform.providers.builtin import run_suite",
        "providers/builtin/run_suite.py:1: provider-imports-cli: from mlform.engine.cli import common",
    ]
    assert "3 layout violation(s)" in r.stderr


def test_the_script_exits_0_on_a_clean_tree(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "engine/core.py": "from mlform.engine.providers import registry\n",
        "providers/local/provider.py": "from mlform.engine.providers.protocol import Provider\n",
        "schemas/__init__.py": "",
    })
    r = _run(root)
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


@pytest.mark.parametrize("rel, module", [
    ("engine/load/hcl.py", "mlform.engine.load.hcl"),
    ("engine/load/__init__.py", "mlform.engine.load"),
    ("providers/__init__.py", "mlform.providers"),
    ("bench/engine.py", None),
])
def test_file_paths_map_to_their_installed_module_names(rel: str, module: str | None) -> None:
    assert ci.module_name(Path(rel)) == module
