"""Who holds a TCP port on this machine, so a port clash names the process (or the
mlform endpoint) in the way, and whether a port is free to listen on.

Linux only for naming the holder (``/proc/net/tcp*`` and each process's open
sockets); elsewhere, or for another user's process, the holder is unknown.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

SERVER_MODULE = "mlform.providers.server"
SUPERVISOR_MODULE = "mlform.providers.local.supervisor"
_LISTEN = "0A"


@dataclass(frozen=True, slots=True)
class PortHolder:
    """The process listening on a port; ``address`` when it is an mlform endpoint's server."""

    pid: int
    command: str
    address: str = ""
    work_dir: str = ""  # the holder's project .mlform folder, when it is an mlform server

    def describe(self) -> str:
        if self.address:
            where = f", project {Path(self.work_dir).parent}" if self.work_dir else ""
            return f"the server of mlform endpoint {self.address} (pid {self.pid}{where})"
        return f"pid {self.pid} ({self.command})"


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether listening on ``host:port`` fails because something already holds it.

    Binds as the server does (``SO_REUSEADDR``), so a port left in TIME_WAIT by a
    server that just stopped is not counted as taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1)
    except OSError as e:
        return e.errno == errno.EADDRINUSE
    finally:
        sock.close()
    return False


def port_holder(port: int) -> PortHolder | None:
    """The process listening on TCP ``port`` (any local address), when this user can see it."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return _describe(int(entry.name))
    return None


def _listening_inodes(port: int) -> set[str]:
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == _LISTEN and int(cols[1].rsplit(":", 1)[1], 16) == port:
                found.add(cols[9])
    return found


def _describe(pid: int) -> PortHolder:
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        argv = []
    command = " ".join(" ".join(argv).split()) or "unknown command"  # one line, however it was quoted
    command = command if len(command) <= 100 else command[:99] + "…"
    if SERVER_MODULE in argv and "--config" in argv[:-1]:
        config = Path(argv[argv.index("--config") + 1])
        try:
            address = str(json.loads(config.read_text()).get("address") or "")
        except (OSError, ValueError, AttributeError):
            address = ""
        if address:
            return PortHolder(_supervisor_of(pid, argv) or pid, command, address, str(config.parent.parent.parent))
    return PortHolder(pid, command)


def _supervisor_of(pid: int, argv: list[str]) -> int | None:
    """The supervisor running the server ``pid`` (the same config), which is the process to
    stop (and the one state records): a server stopped alone may be restarted by it."""
    try:
        ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        parent = [a.decode(errors="replace") for a in Path(f"/proc/{ppid}/cmdline").read_bytes().split(b"\0") if a]
    except (OSError, ValueError, IndexError):
        return None
    config = argv[argv.index("--config") + 1]
    return ppid if SUPERVISOR_MODULE in parent and config in parent else None


__all__ = ["PortHolder", "port_holder", "port_in_use"]
