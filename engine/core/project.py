"""A project on disk: its configuration and the state manager of its backend.

What every operation starts from, without a terminal: each function returns
diagnostics instead of printing or exiting (the CLI's ``Session`` renders
them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, SourceRange, error
from mlform.engine.state.manager import StateManager

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


def recorded_backend(directory: Path) -> tuple[str, dict[str, Any]] | None:
    """The backend recorded by the last ``mlform init`` in ``directory``, if any."""
    try:
        doc = json.loads((directory / BACKEND_RECORD).read_text(encoding="utf-8"))
        return str(doc["type"]), dict(doc["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def record_backend(directory: Path, kind: str, conf: dict[str, Any]) -> None:
    p = directory / BACKEND_RECORD
    p.parent.mkdir(exist_ok=True)
    p.write_text(json.dumps({"type": kind, "config": conf}, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def json_args(conf: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v!r}" for k, v in sorted(conf.items())) or "(no arguments)"


def _local_path_problem(p: Path) -> str:
    """What makes ``p`` unusable as the local state file, or ""."""
    try:
        return "is a directory" if p.is_dir() else ""
    except OSError as exc:  # a name too long, a loop of links
        return f"cannot be used: {(exc.strerror or str(exc)).lower()}"


def open_backend(directory: Path, kind: str, conf: dict[str, Any], rng: SourceRange | None = None
                 ) -> tuple[Any, Diagnostics]:
    """A Backend for ``kind``/``conf`` (relative local paths are relative to ``directory``)."""
    from mlform.engine.state.crypto import load_encryptor
    nul = [k for k, v in conf.items() if isinstance(v, str) and "\0" in v]
    if nul:  # no path, bucket or key can hold one
        return None, Diagnostics([error("Invalid backend configuration", f'The "{kind}" backend\'s {nul[0]} '
                                        f"{conf[nul[0]]!r} contains a NUL byte, which no path or name can hold.",
                                        rng)])
    local = conf.get("path") if kind == "local" else None
    why = _local_path_problem(directory / local) if isinstance(local, str) else ""
    if isinstance(local, str) and why:
        shown = local if len(local) <= 80 else local[:77] + "..."
        return None, Diagnostics([error("Invalid backend configuration", f'The local backend\'s path "{shown}" '
                                        f"{why}. Name the state file, e.g. path = \"mlform.state.json\".", rng)])
    try:
        from mlform.engine.state.backends import backend_from_config
    except ImportError:
        return None, Diagnostics([error("Backend not available",
                                        f'The "{kind}" backend is not available in this build.', rng)])
    try:
        return backend_from_config(kind, conf, directory, load_encryptor()), Diagnostics()
    except DiagnosticsError as e:
        for d in e.diagnostics:  # a backend's own findings belong to its block
            if d.range is None:
                d.range = rng
        return None, e.diagnostics


def open_state(directory: Path, cfg: Config | None, *, check_init: bool = True
               ) -> tuple[StateManager | None, Diagnostics]:
    """The StateManager for the configured backend (local by default).

    When ``mlform init`` recorded a different backend than the configuration
    now names, fails with "Backend configuration changed": using the new one
    silently would plan against an empty state and create everything again.
    """
    kind, conf = backend_settings(cfg)
    rng = cfg.backend.rng if cfg is not None and cfg.backend is not None else None
    if check_init:
        old = recorded_backend(directory)
        if old is None and (directory / "mlform.state.json").exists():
            old = backend_settings(None)  # never initialized: the default local file was in use
        if old is not None and old != (kind, conf):
            return None, Diagnostics([error(
                "Backend configuration changed",
                f'The backend is now "{kind}" ({json_args(conf)}), but `mlform init` set up "{old[0]}" '
                f"({json_args(old[1])}). Run `mlform init --migrate-state` to copy the state to the new backend, "
                "or `mlform init --reconfigure` to use the new backend as it is.", rng)])
    backend, d = open_backend(directory, kind, conf, rng)
    return (StateManager(backend) if backend is not None else None), d


__all__ = ["BACKEND_RECORD", "backend_settings", "json_args", "open_backend", "open_state", "record_backend",
           "recorded_backend"]
