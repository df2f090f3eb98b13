"""Instantiate and configure providers named by the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError, did_you_mean, error
from mlform.engine.providers.protocol import ConfigureRequest, ProviderBase, ProviderContext
from mlform.engine.providers.registry import available, get_provider_class


class ProviderManager:
    """Creates each provider once per run, configured from its block.

    ``evaluate_block`` turns a provider block's attributes into values (it is
    given by the planner, which owns the evaluation scope).
    """

    def __init__(self, cfg: Config | None, project_dir: Path,
                 evaluate_block: Callable[[str], dict[str, Any]] | None = None) -> None:
        self.cfg = cfg
        self.project_dir = project_dir
        self.work_dir = project_dir / ".mlform"
        self._evaluate_block = evaluate_block
        self._providers: dict[str, ProviderBase] = {}

    def get(self, key: str) -> ProviderBase:
        """The configured provider for ``provider.NAME[.ALIAS]``; raises DiagnosticsError."""
        if key in self._providers:
            return self._providers[key]
        parts = key.split(".")
        name = parts[1] if len(parts) > 1 else parts[0]
        alias = parts[2] if len(parts) > 2 else None
        cls = get_provider_class(name)
        if cls is None:
            decl = self.cfg.providers.get(key) if self.cfg else None
            raise DiagnosticsError(error(
                f'Provider "{name}" is not available',
                f'No installed provider is called "{name}".' + did_you_mean(name, available())
                + f" Available: {', '.join(available())}. Install its extra (e.g. pip install 'mlform[aws]').",
                decl.rng if decl else None))
        prov = cls()
        config: dict[str, Any] = {}
        if self.cfg is not None and key in self.cfg.providers and self._evaluate_block is not None:
            config = self._evaluate_block(key)
        resp = prov.configure(ConfigureRequest(config, ProviderContext(self.project_dir, self.work_dir, name, alias)))
        if resp.diagnostics.has_errors:
            decl = self.cfg.providers.get(key) if self.cfg else None
            d = Diagnostics()
            for x in resp.diagnostics:
                if x.range is None and decl is not None:
                    x.range = decl.rng
                d.append(x)
            raise DiagnosticsError(d)
        self._providers[key] = prov
        return prov

    def close(self) -> None:
        for p in self._providers.values():
            p.close()
        self._providers.clear()
