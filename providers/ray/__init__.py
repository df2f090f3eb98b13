"""The ray provider: Ray Serve applications on a Ray cluster.

The provider class is imported lazily, so that listing providers does not
import the platform's SDK.
"""

from typing import Any

__all__ = ["RayProvider"]


def __getattr__(name: str) -> Any:
    if name == "RayProvider":
        from mlform.providers.ray.provider import RayProvider

        return RayProvider
    raise AttributeError(name)
