"""The ray provider (Ray Serve applications on a Ray cluster): being built; serves nothing yet."""

from __future__ import annotations

from mlform.engine.providers.protocol import ProviderBase

__all__ = ["RayProvider"]


class RayProvider(ProviderBase):
    name = "ray"
    kinds = ("endpoint",)
