"""Ctrl-C (and SIGTERM, as CI sends on cancel) during an apply (docs/reliability.md).

The first signal asks the apply to stop safely: the walker starts no new
operation, operations already running finish and are recorded, and a rollout
in progress rolls back to the last fully promoted version (the controller
checks :func:`requested` between steps, during bakes and gates, after a short
count-down that says so). The command then exits with 128 + the signal number.

A second signal stops at once: the state lock is released (best effort, for
a backend whose lock outlives the process) and the process exits without
waiting for anything. What state holds is what the journal recorded, as after
``kill -9``: the next apply rolls the half-way rollout back.

Handlers are installed only while an apply runs (:func:`handling`), and only
from the main thread (Python delivers signals there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any, Callable, Iterator

_stop = threading.Event()
_signum: int | None = None
_first_note = ("\nInterrupt received ({name}). Stopping safely: no new operation starts, operations in flight "
               "finish and are recorded, and a rollout in progress rolls back to the last fully promoted "
               "version.\nPress Ctrl-C again to stop at once (the next apply then rolls back).\n")
_second_note = ("\nSecond interrupt: stopping now. State holds every operation recorded so far; a rollout left "
                "half-way is rolled back by the next apply.\n")


def requested() -> bool:
    """Whether a first interrupt asked the running apply to stop."""
    return _stop.is_set()


def event() -> threading.Event:
    """The event the first interrupt sets (the walker's ``stop``)."""
    return _stop


def signal_number() -> int | None:
    return _signum


def exit_code() -> int:
    """128 + the signal's number, as a shell reports a process a signal ended (130 for SIGINT)."""
    return 128 + (_signum or signal.SIGINT)


@contextlib.contextmanager
def handling(release_lock: Callable[[], Any] | None = None) -> Iterator[None]:
    """Install the two-step SIGINT/SIGTERM handlers for the duration of an apply."""
    global _signum
    _stop.clear()
    _signum = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        global _signum
        if not _stop.is_set():
            _signum = signum
            _stop.set()
            _say(_first_note.format(name=signal.Signals(signum).name))
            return
        _say(_second_note)
        if release_lock is not None:  # in a thread: the main thread may be inside the state manager
            t = threading.Thread(target=_quietly, args=(release_lock,), daemon=True)
            t.start()
            t.join(5.0)
        os._exit(128 + signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _quietly(fn: Callable[[], Any]) -> None:
    try:
        fn()
    except BaseException:  # noqa: BLE001 - exiting anyway; a lock left behind names itself on the next run
        pass


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


__all__ = ["event", "exit_code", "handling", "requested", "signal_number"]
