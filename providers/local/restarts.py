"""What the provider learns from a server's supervisor (``supervisor.py``): how often
it restarted the server and why, whether it gave up, and waiting for a server
being restarted to answer again."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlform.providers.local import process as P
from mlform.providers.local.versions import admin_token, read_json

WAIT_S = 30.0  # how long refresh and a rollback wait for a server being restarted


@dataclass(frozen=True, slots=True)
class Restarts:
    """The supervisor's status file, for the server of one endpoint."""

    state: str  # "running", "restarting", "failed"; "" without a supervisor
    count: int
    last_exit: str | None
    error: str | None

    @property
    def note(self) -> str:
        return f"restarted {self.count} time{'s' if self.count != 1 else ''}" + \
            (f" (last exit: {self.last_exit})" if self.last_exit else "")


def restarts_of(private: dict[str, Any]) -> Restarts | None:
    """The supervisor's record for the server ``private`` describes; ``None`` when that
    server has none (one started before servers were supervised, or by hand)."""
    sdir, pid = private.get("server_dir"), private.get("pid")
    if not sdir:
        return None
    got = read_json(Path(str(sdir)) / "status.json")
    if got.get("pid") != pid or "state" not in got:
        return None
    return Restarts(str(got.get("state") or ""), int(got.get("restarts") or 0), got.get("last_exit"),
                    got.get("error"))


def wait_back(private: dict[str, Any], timeout: float = WAIT_S) -> P.ServerStatus:
    """The server's status, waiting while its supervisor restarts it (until it answers,
    the supervisor gives up or is gone, or ``timeout``)."""
    url, token, pid = str(private.get("url", "")), admin_token(private), int(private.get("pid", 0))
    deadline = time.monotonic() + timeout
    while True:
        st = P.server_status(url, token, pid)
        if st.running or not st.pid_alive or time.monotonic() > deadline:
            return st
        r = restarts_of(private)
        if r is None or r.state == "failed":
            return st
        time.sleep(0.2)

