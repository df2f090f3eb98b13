"""The provider protocol and registry: the engine's only door to providers."""

from mlform.engine.providers.protocol import *  # noqa: F401,F403
from mlform.engine.providers.registry import available, get_provider_class, register  # noqa: F401
