"""Content digests of files: the identity of a model artifact.

The builtin provider records a model's digest at plan and apply, and the
local server checks the file it loads against it, so both use this one
function.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_digest(path: str | Path) -> str:
    """``sha256:<hex>`` of a file, read in chunks of 1 MiB."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


__all__ = ["file_digest"]
