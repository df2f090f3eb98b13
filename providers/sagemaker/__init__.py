"""The sagemaker provider: Amazon SageMaker endpoints.

The provider class is imported lazily, so that listing providers does not
import the platform's SDK.
"""

from typing import Any

__all__ = ["SageMakerProvider"]


def __getattr__(name: str) -> Any:
    if name == "SageMakerProvider":
        from mlform.providers.sagemaker.provider import SageMakerProvider

        return SageMakerProvider
    raise AttributeError(name)
