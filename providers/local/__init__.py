"""The local provider: model servers on this machine."""

from mlform.providers.local.provider import LocalProvider

__all__ = ["LocalProvider"]
