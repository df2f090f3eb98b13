"""The sagemaker provider (Amazon SageMaker endpoints): being built; serves nothing yet."""

from __future__ import annotations

from mlform.engine.providers.protocol import ProviderBase

__all__ = ["SageMakerProvider"]


class SageMakerProvider(ProviderBase):
    name = "sagemaker"
    kinds = ("endpoint",)
