"""Fixtures for state tests: a state path in a fresh directory, resources, keys."""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from mlform.engine.state import Encryptor, LocalBackend, ResourceState, StateManager


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "mlform.state.json"


@pytest.fixture
def make_rs() -> Callable[..., ResourceState]:
    """``make_rs("model.m", digest="sha256:..")`` -> a ResourceState."""

    def make(address: str, **attributes: Any) -> ResourceState:
        kind, name = address.split(".", 1)
        return ResourceState(address=address, kind=kind, name=name, provider="local",
                             attributes=attributes)

    return make


@pytest.fixture
def raw_key() -> str:
    """A base64 AES-256 key, as `openssl rand -base64 32` prints it."""
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def enc(raw_key: str) -> Encryptor:
    return Encryptor.from_secret(raw_key, "MLFORM_STATE_KEY")


@pytest.fixture
def manager(state_path: Path) -> StateManager:
    return StateManager(LocalBackend(state_path))


# tmpfs when there is one: tests about bytes, replay and round trips should
# not wait on a busy disk's fsync (durability against power loss is not what
# they check; process crashes keep the page cache either way).
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@pytest.fixture
def fast_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory on tmpfs if available, else under ``tmp_path``."""
    if FAST_TMP is None:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="mlform-state-", dir=FAST_TMP) as d:
        yield Path(d)
