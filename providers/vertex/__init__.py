"""The vertex provider: Google Vertex AI endpoints.

The provider class is imported lazily, so that listing providers does not
import the platform's SDK.
"""

from typing import Any

__all__ = ["VertexProvider"]


def __getattr__(name: str) -> Any:
    if name == "VertexProvider":
        from mlform.providers.vertex.provider import VertexProvider

        return VertexProvider
    raise AttributeError(name)
