"""``mlform version``: mlform's version, Python's, and each installed provider's.

Everything comes from installed package metadata: a provider's version is the
version of the distribution that ships its ``mlform.providers`` entry point,
so no provider module is imported, and no configuration is read.
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version

PROVIDER_GROUP = "mlform.providers"


@dataclass(frozen=True)
class VersionInfo:
    """What ``mlform version`` reports (``None``: no package metadata to read it from)."""

    mlform: str | None
    python: str
    platform: str
    providers: dict[str, str | None]  # name -> version of the distribution shipping it

    def text(self) -> str:
        """The ``terraform version`` layout: one line each for mlform, the platform, every provider."""
        lines = [f"mlform {_v(self.mlform)}", f"on python {self.python} ({self.platform})"]
        lines += [f"+ provider {name} {_v(v)}" for name, v in self.providers.items()]
        return "\n".join(lines) + "\n"

    def json(self) -> str:
        """The ``terraform version -json`` layout."""
        return json.dumps({"mlform_version": self.mlform, "python_version": self.python,
                           "platform": self.platform, "provider_selections": self.providers}, indent=2) + "\n"


def _v(v: str | None) -> str:
    return f"v{v}" if v is not None else "(version unknown)"


def version_info() -> VersionInfo:
    """Read the versions from the installed distributions' metadata."""
    try:
        own: str | None = version("mlform")
    except PackageNotFoundError:  # run from a source tree that was never installed
        own = None
    providers: dict[str, str | None] = {}
    for ep in sorted(entry_points(group=PROVIDER_GROUP), key=lambda e: e.name):
        dist = getattr(ep, "dist", None)
        providers.setdefault(ep.name, getattr(dist, "version", None))
    return VersionInfo(own, platform.python_version(), f"{sys.platform}_{platform.machine().lower()}", providers)


def run_version(json_out: bool) -> int:
    """Print the versions; exit code 0."""
    info = version_info()
    sys.stdout.write(info.json() if json_out else info.text())
    return 0
