"""validate: everything that can be checked without configuring a provider or reading state
(a view over :meth:`mlform.engine.core.Core.validate`)."""

from __future__ import annotations

from mlform.engine.cli import common as C
from mlform.engine.config.decode import load_config
from mlform.engine.diagnostics import Diagnostics


def run_validate(s: C.Session) -> Diagnostics:
    from mlform.engine.core import Core

    cfg, d = load_config(s.directory)
    if cfg is None:
        return d
    s.sources.update(cfg.sources)
    if d.has_errors:
        return d
    d.extend(Core(cfg).validate().diagnostics)
    return d
