"""The docker provider (Docker containers on a Docker engine): being built; serves nothing yet."""

from __future__ import annotations

from mlform.engine.providers.protocol import ProviderBase

__all__ = ["DockerProvider"]


class DockerProvider(ProviderBase):
    name = "docker"
    kinds = ("endpoint",)
