"""pytest plugin for .ci/mutation.py: which tests run which lines of one file, in this process.

MUTATION_TRACE_FILE names the file, MUTATION_TRACE_OUT the JSON written at the end
({test id: [line, ...]}). Lines run only by a child process (a real ``mlform``) are not seen, so
the runner uses this to run the likeliest tests first, never to skip a test.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from types import FrameType
from typing import Any, Iterator

import pytest

TARGET = os.path.realpath(os.environ.get("MUTATION_TRACE_FILE", ""))
_lines: set[int] = set()
_seen: dict[str, list[int]] = {}


def _local(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "line":
        _lines.add(frame.f_lineno)
    return _local


def _global(frame: FrameType, event: str, arg: Any) -> Any:
    if frame.f_code.co_filename == TARGET:
        _lines.add(frame.f_lineno)
        return _local
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Iterator[None]:
    _lines.clear()
    sys.settrace(_global)
    threading.settrace(_global)
    try:
        yield
    finally:
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        if _lines:
            _seen[item.nodeid] = sorted(_lines)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("MUTATION_TRACE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(_seen, f)
