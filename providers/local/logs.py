"""``mlform logs`` for a local endpoint: its server's log file (stdout and stderr of every run,
appended; ``process.py``), the last ``tail`` lines, then, with ``follow``, new lines as the
server writes them until the file is removed (the endpoint destroyed) or the user interrupts."""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path

from mlform.engine.providers.protocol import LogsRequest, LogsResponse

POLL_S = 0.25


def show_logs(req: LogsRequest) -> LogsResponse:
    resp = LogsResponse()
    raw = req.private.get("log_path")
    path = Path(raw) if isinstance(raw, str) and raw else None
    if path is None or not path.is_file():
        resp.diagnostics.error(f"{req.address} has no server log",
                               f"{path or 'Its log file'} does not exist: the server was removed outside mlform "
                               "or never started. `mlform apply` starts it again.")
        return resp
    with open(path, "rb") as f:
        lines = deque(f, maxlen=req.tail) if req.tail is not None else list(f)
        for line in lines:
            req.write(line.decode(errors="replace").rstrip("\n"))
        if not req.follow:
            return resp
        pending = b""
        while path.exists():
            chunk = f.read()
            if not chunk:
                time.sleep(POLL_S)
                continue
            pending += chunk
            *done, pending = pending.split(b"\n")
            for line in done:
                req.write(line.decode(errors="replace"))
    return resp
