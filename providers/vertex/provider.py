"""The vertex provider (Google Vertex AI endpoints): being built; serves nothing yet."""

from __future__ import annotations

from mlform.engine.providers.protocol import ProviderBase

__all__ = ["VertexProvider"]


class VertexProvider(ProviderBase):
    name = "vertex"
    kinds = ("endpoint",)
