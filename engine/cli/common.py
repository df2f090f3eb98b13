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


BACKEND_RECORD = Path(".mlform") / "backend.json"  # the backend `mlform init` last set up


def backend_settings(cfg: Config | None) -> tuple[str, dict[str, Any]]:
    """The configured backend's kind and arguments (local ``mlform.state.json`` by default)."""
    kind, conf = "local", {}
    if cfg is not None and cfg.backend is not None:
        from mlform.engine.expr.scope import evaluate_static
        kind = cfg.backend.type
        conf = {k: evaluate_static(a.expr, cfg.directory) for k, a in cfg.backend.body.attributes.items()}
    if kind == "local":
        conf = {"path": str(conf.get("path", "mlform.state.json"))}
    return kind, conf


def recorded_backend(session: Session) -> tuple[str, dict[str, Any]] | None:
    """The backend recorded by the last ``mlform init``, if any."""
    import json
    p = session.directory / BACKEND_RECORD
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        return str(doc["type"]), dict(doc["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_backend(session: Session, kind: str, conf: dict[str, Any]) -> None:
    import json
    p = session.directory / BACKEND_RECORD
    p.parent.mkdir(exist_ok=True)
    p.write_text(json.dumps({"type": kind, "config": conf}, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def backend_for(session: Session, kind: str, conf: dict[str, Any], rng: Any = None) -> Any:
    """A Backend for ``kind``/``conf``; relative local paths are relative to the project."""
    from mlform.engine.state.crypto import load_encryptor
    try:
        from mlform.engine.state.backends import backend_from_config
    except ImportError:
        session.fail(Diagnostics([error("Backend not available",
                                        f'The "{kind}" backend is not available in this build.', rng)]))
    try:
        return backend_from_config(kind, conf, session.directory, load_encryptor())
    except DiagnosticsError as e:
        for d in e.diagnostics:  # a backend's own findings belong to its block
            if d.range is None:
                d.range = rng
        session.fail(e.diagnostics)


def state_manager(session: Session, cfg: Config | None, *, check_init: bool = True) -> Any:
    """The StateManager for the configured backend (local by default).

    When ``mlform init`` recorded a different backend than the configuration
    now names, fails with "Backend configuration changed": using the new one
    silently would plan against an empty state and create everything again.
    """
    from mlform.engine.state.manager import StateManager

    kind, conf = backend_settings(cfg)
    rng = cfg.backend.rng if cfg is not None and cfg.backend is not None else None
    if check_init:
        old = recorded_backend(session)
        if old is None and (session.directory / "mlform.state.json").exists():
            old = backend_settings(None)  # never initialized: the default local file was in use
        if old is not None and old != (kind, conf):
            session.fail(Diagnostics([error(
                "Backend configuration changed",
                f'The backend is now "{kind}" ({json_args(conf)}), but `mlform init` set up "{old[0]}" '
                f"({json_args(old[1])}). Run `mlform init --migrate-state` to copy the state to the new backend, "
                "or `mlform init --reconfigure` to use the new backend as it is.", rng)]))
    return StateManager(backend_for(session, kind, conf, rng))


def json_args(conf: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in sorted(conf.items())) or "(no arguments)"


_DUR = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def parse_duration(text: str) -> float:
    m = _DUR.match(text.strip())
    if not m:
        raise DiagnosticsError(error("Invalid duration", f'"{text}" is not a duration; write e.g. 30s, 2m or 500ms.'))
    n = float(m.group(1))
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]


def use_color(no_color: bool) -> bool:
    return not no_color and sys.stdout.isatty() and os.environ.get("NO_COLOR") is None
