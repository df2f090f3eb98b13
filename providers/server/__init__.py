"""mlform's own model server: Open Inference Protocol (KServe V2 REST) over starlette.

Run as ``python -m mlform.providers.server --config FILE``; start and
manage it with :mod:`mlform.providers.local.process`. The admin API under
``/mlform/`` loads and removes versions, shifts traffic and reports stats;
:mod:`mlform.providers.server.client` is its thin client. See
docs/local-server.md.
"""

from mlform.providers.server.config import ConfigError, ServerConfig, VersionSpec

__all__ = ["ConfigError", "ServerConfig", "VersionSpec"]
