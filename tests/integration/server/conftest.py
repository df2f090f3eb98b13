"""Real mlform servers on 127.0.0.1, started as separate processes, for these tests."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import httpx
import pytest

from mlform.providers.local.process import ServerHandle, start_server, stop_server
from mlform.providers.server.config import VersionSpec
from tests.fixtures.models import ModelArtifact, write_onnx_classifier


@pytest.fixture(scope="module")
def classifiers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ModelArtifact]:
    """Two versions of a small ONNX classifier (same signature, other weights)."""
    d = tmp_path_factory.mktemp("models")
    return {"v1": write_onnx_classifier(d / "v1.onnx", seed=1),
            "v2": write_onnx_classifier(d / "v2.onnx", seed=2)}


@pytest.fixture(scope="module")
def launch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ServerHandle]]:
    """Start servers (``launch(name, {id: artifact}, **kw)``); all are stopped at the end."""
    work = tmp_path_factory.mktemp("work")
    handles: list[ServerHandle] = []

    def _launch(name: str, versions: dict[str, ModelArtifact], **kw: Any) -> ServerHandle:
        specs = [VersionSpec(vid, str(a.path), a.format) for vid, a in versions.items()]
        h = start_server(name, work, specs, gpus="none", timeout=60, **kw)
        handles.append(h)
        return h

    yield _launch
    for h in handles:
        stop_server(h)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=10) as c:
        yield c
