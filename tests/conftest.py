"""Shared fixtures, shipped as pytest plugins so every test reads like a user session.

The testing provider (``mlform.providers.testing``, hooks on every call) is not
an entry point of the mlform distribution: a user's ``mlform version`` does not
list it. The suite registers it the way a third-party package would be, with
an ``entry_points.txt`` in a ``*.dist-info`` folder, written here into a
temporary directory put on ``sys.path`` (this process) and ``PYTHONPATH``
(every ``mlform`` the tests start as a real process).
"""

import atexit
import os
import pathlib
import pkgutil
import shutil
import sys
import tempfile
from importlib.metadata import version

TESTING_ENTRY_POINT = "testing = mlform.providers.testing:TestProvider"


def _register_testing_provider() -> pathlib.Path:
    inherited = os.environ.get("MLFORM_TESTS_PROVIDER_PATH")  # a pytest-xdist worker: its parent's
    if inherited and pathlib.Path(inherited).is_dir() and inherited in sys.path + \
            (os.environ.get("PYTHONPATH") or "").split(os.pathsep):
        if inherited not in sys.path:
            sys.path.append(inherited)
        return pathlib.Path(inherited)
    root = pathlib.Path(tempfile.mkdtemp(prefix="mlform-testing-provider-"))
    atexit.register(shutil.rmtree, root, True)
    ver = version("mlform")  # it ships with the tree under test
    dist = root / f"mlform_testing_provider-{ver}.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mlform-testing-provider\nVersion: {ver}\n")
    (dist / "entry_points.txt").write_text(f"[mlform.providers]\n{TESTING_ENTRY_POINT}\n")
    sys.path.append(str(root))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(root)) if p)
    os.environ["MLFORM_TESTS_PROVIDER_PATH"] = str(root)
    return root


TESTING_PROVIDER_PATH = _register_testing_provider()

# Every module in tests/fixtures/ is a plugin (moto_server, gcs_emulator,
# tmp_project, local servers, ...).
pytest_plugins = [
    f"tests.fixtures.{m.name}"
    for m in pkgutil.iter_modules([str(pathlib.Path(__file__).parent / "fixtures")])
]
