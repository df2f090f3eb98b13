"""Shared CLI plumbing: the project, its state manager, exit codes."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from mlform.engine.config.decode import load_config
from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, error
from mlform.engine.cli.diagnostics import render, to_json

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_POLICY = 0, 1, 2, 3


class Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


@dataclass
class Session:
    """What every command needs: where the project is and how to talk."""

    directory: Path
    color: bool
    sources: dict[str, str]
    json_diagnostics: bool = False  # a --json command reports its failure as JSON on stdout

    def fail(self, diags: Diagnostics | DiagnosticsError, code: int = EXIT_ERROR) -> NoReturn:
        ds = diags.diagnostics if isinstance(diags, DiagnosticsError) else diags
        if self.json_diagnostics:
            sys.stdout.write(to_json(ds) + "\n")
        else:
            render(ds, self.sources, self.color)
        raise Exit(code)

    def resolve(self, path: Path) -> Path:
        """A path from the command line. Relative ones are relative to the project
        directory, as Terraform's ``-chdir`` switches directory before reading them."""
        return path if path.is_absolute() else self.directory / path

    def warn(self, diags: Diagnostics) -> None:
        ws = [d for d in diags if not d.is_error]
        if ws:
            render(ws, self.sources, self.color)


def load(session: Session, use_cache: bool = True) -> tuple[Config, Diagnostics]:
    cfg, d = load_config(session.directory, use_cache=use_cache)
    if cfg is not None:
        session.sources.update(cfg.sources)
    if d.has_errors or cfg is None:
        session.fail(d)
    return cfg, d


def backend_settings(cfg: Config | None) -> tuple[str, dict[str, Any]]:
    from mlform.engine.core.project import backend_settings as settings
    return settings(cfg)


def recorded_backend(session: Session) -> tuple[str, dict[str, Any]] | None:
    """The backend recorded by the last ``mlform init``, if any."""
    from mlform.engine.core.project import recorded_backend as recorded
    return recorded(session.directory)


def record_backend(session: Session, kind: str, conf: dict[str, Any]) -> None:
    from mlform.engine.core.project import record_backend as record
    record(session.directory, kind, conf)


def backend_for(session: Session, kind: str, conf: dict[str, Any], rng: Any = None) -> Any:
    """A Backend for ``kind``/``conf``; relative local paths are relative to the project."""
    from mlform.engine.core.project import open_backend
    backend, d = open_backend(session.directory, kind, conf, rng)
    if backend is None:
        session.fail(d)
    return backend


def state_manager(session: Session, cfg: Config | None, *, check_init: bool = True) -> Any:
    """The StateManager for the configured backend (local by default); fails on a changed backend."""
    from mlform.engine.core.project import open_state
    mgr, d = open_state(session.directory, cfg, check_init=check_init)
    if mgr is None:
        session.fail(d)
    return mgr


def json_args(conf: dict[str, Any]) -> str:
    from mlform.engine.core.project import json_args as args
    return args(conf)


_DUR = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    m = _DUR.match(text.strip())
    if not m:
        raise DiagnosticsError(error("Invalid duration", f'"{text}" is not a duration; write e.g. 30s, 2m or 500ms.'))
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def use_color(no_color: bool) -> bool:
    return not no_color and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
