"""Shared fixtures, shipped as pytest plugins so every test reads like a user session."""

import pathlib
import pkgutil

# Every module in tests/fixtures/ is a plugin (moto_server, gcs_emulator,
# tmp_project, local servers, ...).
pytest_plugins = [
    f"tests.fixtures.{m.name}"
    for m in pkgutil.iter_modules([str(pathlib.Path(__file__).parent / "fixtures")])
]
