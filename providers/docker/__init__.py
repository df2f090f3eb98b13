"""The docker provider: Docker containers on a Docker engine.

The provider class is imported lazily, so that listing providers does not
import the platform's SDK.
"""

from typing import Any

__all__ = ["DockerProvider"]


def __getattr__(name: str) -> Any:
    if name == "DockerProvider":
        from mlform.providers.docker.provider import DockerProvider

        return DockerProvider
    raise AttributeError(name)
