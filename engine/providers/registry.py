"""Find provider classes by name.

Providers register in the ``mlform.providers`` entry-point group. The engine
never imports a provider module by path; tests may :func:`register` extra
classes (the testing provider with hooks, for example).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlform.engine.providers.protocol import ProviderBase

_extra: dict[str, type["ProviderBase"]] = {}
_cache: dict[str, type["ProviderBase"]] = {}
_eps: dict[str, object] | None = None


def register(name: str, cls: type["ProviderBase"]) -> None:
    """Make ``cls`` available as provider ``name`` (overrides entry points)."""
    _extra[name] = cls
    _cache.pop(name, None)


def unregister(name: str) -> None:
    _extra.pop(name, None)
    _cache.pop(name, None)


def _entry_points() -> dict[str, object]:
    """The group's entry points, found once per process (each look scans every
    installed distribution: ~20 ms). Only the provider a configuration names is
    imported, by :func:`get_provider_class`."""
    global _eps
    if _eps is None:
        _eps = {ep.name: ep for ep in entry_points(group="mlform.providers")}
    return _eps


def available() -> list[str]:
    """Names of every provider that can be found."""
    return sorted(set(_entry_points()) | set(_extra))


def get_provider_class(name: str) -> type["ProviderBase"] | None:
    """The class registered as ``name``, or ``None`` when there is none."""
    if name in _extra:
        return _extra[name]
    if name in _cache:
        return _cache[name]
    ep = _entry_points().get(name)
    if ep is None:
        return None
    cls = ep.load()  # type: ignore[attr-defined]
    _cache[name] = cls
    return cls  # type: ignore[no-any-return]
