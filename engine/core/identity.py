"""Who runs an operation, as history records it (``user@host``)."""

from __future__ import annotations

import getpass
import socket


def whoami() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        return "unknown"
