"""The local provider: model servers on this machine.

The provider class is imported lazily so that a server process (which
imports this package for its own modules) does not pay for it at start.
"""

from typing import Any

__all__ = ["LocalProvider"]


def __getattr__(name: str) -> Any:
    if name == "LocalProvider":
        from mlform.providers.local.provider import LocalProvider

        return LocalProvider
    raise AttributeError(name)
