"""Start, watch and stop mlform model servers as detached processes.

One server per endpoint replica lives in ``<work_dir>/servers/<name>/``::

    config.json   what to serve and the admin token (mode 0600)
    status.json   written by the supervisor: {"pid", "server_pid", "port", "state",
                  "restarts", "last_exit", ...} once listening, or {"pid", "error",
                  "exit_code"} when startup failed
    server-status.json   written by the server itself
    server.log    stdout and stderr of every run, appended

:func:`start_server` launches the supervisor (``providers/local/supervisor.py``),
which runs ``python -m mlform.providers.server`` as its child and
restarts it when it crashes, in a new session (it survives the CLI exiting
and the terminal's signals), waits for the status file and then for
``/v2/health/ready``, and returns a :class:`ServerHandle` whose ``pid`` is the
supervisor's. The server binds port 0 itself and reports the port it
got, so no other process can take the port between a check and the bind.

The admin client (:func:`load_version`, :func:`set_traffic`,
:func:`remove_version`, :func:`stats`, :func:`info`) is re-exported here.

Exceptions::

    ServerStartError   the server did not come up; the message has the log tail
    PortInUse          (a ServerStartError) the requested port is held by another process
    AdminError         an admin call failed (re-exported from server.client)
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from mlform.providers.local.ports import PortHolder, port_holder, port_in_use
from mlform.providers.server.client import (
    AdminError, ServerStats, info, load_version, remove_version, request, set_traffic, shutdown, stats,
)
from mlform.providers.server.config import ServerConfig, VersionSpec

Progress = Callable[[str], None]
SERVER_MODULE = "mlform.providers.server"
SUPERVISOR_MODULE = "mlform.providers.local.supervisor"
EXIT_BIND = 4  # the server's exit code when it cannot listen (server/__main__.py)

# Servers this process started: polled to reap them, so a dead child never
# lingers as a zombie that still looks alive to kill(pid, 0).
_children: dict[int, subprocess.Popen[bytes]] = {}


@atexit.register
def _leave_servers_running() -> None:
    """Servers outlive this process by design (their own session): drop their
    Popen objects without Popen.__del__'s "subprocess N is still running"
    ResourceWarning, which would otherwise end every `mlform apply` run with -W."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        _children.clear()


class ServerStartError(Exception):
    """The server did not start; the message says why and ends with the log's last lines."""


class PortInUse(ServerStartError):
    """The port asked for is already listened on; ``holder`` is who, when it can be seen;
    ``attr``: which of the server's ports it is (``port``, or ``grpc_port``)."""

    def __init__(self, port: int, holder: PortHolder | None, attr: str = "port") -> None:
        self.port, self.holder, self.attr = port, holder, attr
        super().__init__(f"127.0.0.1:{port} is already in use by "
                         + (holder.describe() if holder else "another process"))


@dataclass(frozen=True, slots=True)
class ServerHandle:
    """How to reach and stop one running server; store it (``to_json``) to find it later."""

    name: str
    pid: int
    port: int
    url: str
    token: str
    log_path: str
    config_path: str
    server_dir: str
    grpc_port: int | None = None  # the gRPC service's port, when the server has one
    server_pid: int | None = None  # the server's own pid, under the supervisor ``pid``; changes on a restart

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ServerHandle:
        # A handle stored before a field with a default existed takes the default.
        return cls(**{f.name: obj[f.name] for f in fields(cls) if f.name in obj or f.default is MISSING})


@dataclass(slots=True)
class ServerStatus:
    """What :func:`server_status` found. ``running``: the pid is alive and answers as itself."""

    running: bool
    pid_alive: bool
    responding: bool
    ready: bool = False
    device: str | None = None
    versions: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    message: str = ""


def start_server(
    name: str,
    work_dir: str | os.PathLike[str],
    versions: Sequence[VersionSpec],
    *,
    weights: Mapping[str, float] | None = None,
    gpus: Any = "auto",
    port: int = 0,
    token: str | None = None,
    timeout: float = 60.0,
    progress: Progress | None = None,
    extra_config: Mapping[str, Any] | None = None,
    environment: Mapping[str, str] | None = None,
) -> ServerHandle:
    """Start a detached server for ``versions`` and wait until it is ready (with no
    versions: until it answers; load one with :func:`load_version`).

    ``port`` 0 lets the server pick a free port on 127.0.0.1. ``token`` is
    generated when not given. ``extra_config`` sets other
    :class:`~mlform.providers.server.config.ServerConfig` fields
    (``stats_capacity``, ``http``, ``loop``, ``max_request_bytes``, ``batching``,
    ``grpc_port``, ...); the handle's ``grpc_port`` is the gRPC port bound.
    ``environment`` is added to the process's environment; its names (never
    its values) are written to the log. Raises :class:`ServerStartError`
    when the process exits, reports an error, or is not ready within
    ``timeout`` seconds (it is then killed, never left half-started), and
    :class:`PortInUse` when a ``port`` or ``grpc_port`` asked for is taken, before anything is
    loaded when that is already so.
    """
    say = progress or (lambda _msg: None)
    sdir = Path(work_dir).resolve() / "servers" / name  # the child runs in sdir
    sdir.mkdir(parents=True, exist_ok=True)
    config_path, status_path, log_path = sdir / "config.json", sdir / "status.json", \
        sdir / "server.log"
    _refuse_if_running(name, config_path, status_path)
    grpc_port = int((extra_config or {}).get("grpc_port") or 0)
    for asked, attr in ((port, "port"), (grpc_port, "grpc_port")):
        if asked and port_in_use(asked):
            raise PortInUse(asked, port_holder(asked), attr)
    status_path.unlink(missing_ok=True)
    token = token or secrets.token_urlsafe(32)
    specs = [VersionSpec(v.id, os.path.abspath(v.path), v.format, v.digest, v.prompt) for v in versions]
    config = ServerConfig(name=name, token=token, versions=specs, weights=dict(weights or {}),
                          port=port, port_file=str(status_path), gpus=gpus)
    for key, value in (extra_config or {}).items():
        setattr(config, key, value)
    config.save(config_path)

    with open(log_path, "ab") as log:
        log.write(f"\n=== mlform server {name} starting {time.strftime('%Y-%m-%d %H:%M:%S')}"
                  " ===\n".encode())
        if environment:  # names only: values may be secrets
            log.write(f"environment from the configuration: {', '.join(sorted(environment))}\n".encode())
        log.flush()
        log_offset = log.tell()
        proc = subprocess.Popen(
            [sys.executable, "-m", SUPERVISOR_MODULE, "--config", str(config_path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, cwd=sdir,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(environment or {})},
        )
    _children[proc.pid] = proc
    say(f"started server {name} (pid {proc.pid}), loading {len(specs)} version(s)")

    def fail(reason: str) -> ServerStartError:
        return ServerStartError(f"mlform server {name!r} did not start: {reason}\n"
                                f"--- last lines of {log_path} ---\n"
                                f"{read_log_tail(log_path, start=log_offset)}")

    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 5.0
    url: str | None = None
    while True:
        code = proc.poll()
        reported = _read_status(status_path, proc.pid)
        if reported.get("error"):
            _reap(proc)
            if reported.get("exit_code") == EXIT_BIND:  # taken since the check above
                attr, asked = ("grpc_port", grpc_port) if "gRPC" in str(reported["error"]) else ("port", port)
                if asked:
                    raise PortInUse(asked, port_holder(asked), attr)
            raise fail(str(reported["error"]))
        if code is not None:
            _children.pop(proc.pid, None)
            raise fail(f"the process exited with code {code} during startup")
        if url is None and reported.get("port"):
            url = f"http://127.0.0.1:{int(reported['port'])}"
            say(f"server {name} listening on {url}, waiting until ready")
        if url is not None and _is_ready(url, live_only=not specs):
            break
        now = time.monotonic()
        if now > deadline:
            _kill_group(proc.pid, signal.SIGKILL)
            _reap(proc)
            raise fail(f"not ready after {timeout:g}s (the process was killed)")
        if now > next_note:
            say(f"still waiting for server {name} ({now - deadline + timeout:.0f}s)")
            next_note = now + 5.0
        time.sleep(0.05)
    say(f"server {name} ready on {url}")
    assert url is not None
    bound_grpc = reported.get("grpc_port")
    return ServerHandle(name=name, pid=proc.pid, port=int(reported["port"]), url=url,
                        token=token, log_path=str(log_path), config_path=str(config_path),
                        server_dir=str(sdir), grpc_port=int(bound_grpc) if bound_grpc else None,
                        server_pid=int(reported["server_pid"]) if reported.get("server_pid") else None)


def stop_server(handle: ServerHandle, *, timeout: float = 10.0) -> bool:
    """Stop a server: admin shutdown, then SIGTERM, then SIGKILL, each given time to work.

    Returns ``False`` when it was not running (or its pid now belongs to
    another program, which is left alone).
    """
    if not _is_our_server(handle.pid, handle.config_path):
        _children.pop(handle.pid, None)
        return False
    try:
        shutdown(handle.url, handle.token, timeout=min(timeout, 5.0))
    except AdminError:
        pass  # unresponsive: signals below
    if _wait_gone(handle.pid, timeout):
        return True
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        _kill_group(handle.pid, sig)
        if _wait_gone(handle.pid, wait):
            return True
    return not pid_alive(handle.pid)


def server_status(url: str, token: str, pid: int, *, timeout: float = 2.0) -> ServerStatus:
    """Is the server at ``url`` with ``pid`` alive, and what does it serve?"""
    if not pid_alive(pid):
        return ServerStatus(False, False, False, message=f"process {pid} is not running")
    try:
        got = info(url, token, timeout=timeout)
    except AdminError as e:
        return ServerStatus(False, True, False, message=str(e))
    if pid not in (got.get("pid"), got.get("supervisor_pid")):  # the server, or its supervisor
        return ServerStatus(False, True, True, message=f"{url} is served by pid {got.get('pid')}"
                            f", not {pid}")
    return ServerStatus(True, True, True, ready=bool(got.get("ready")), device=got.get("device"),
                        versions=[v["id"] for v in got.get("versions", [])],
                        weights=dict(got.get("weights", {})), digests=dict(got.get("digests", {})))


def record_versions(config_path: str | os.PathLike[str], versions: Sequence[VersionSpec],
                    weights: Mapping[str, float]) -> None:
    """What a restarted server serves: the config's versions and weights (a rollout's result)."""
    config_path = Path(config_path)
    config = ServerConfig.load(config_path)
    config.versions = [VersionSpec(v.id, os.path.abspath(v.path), v.format, v.digest, v.prompt) for v in versions]
    config.weights = dict(weights)
    config.save(config_path)


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie does not count)."""
    proc = _children.get(pid)
    if proc is not None:
        if proc.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # exited, but its parent has not reaped it yet
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def read_log_tail(path: str | os.PathLike[str], lines: int = 40, start: int = 0) -> str:
    """The last ``lines`` lines of a log from byte offset ``start``."""
    try:
        with open(path, "rb") as f:
            f.seek(max(start, os.path.getsize(path) - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError as e:
        return f"(cannot read {path}: {e.strerror})"
    return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


def _read_status(path: Path, pid: int) -> dict[str, Any]:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) and got.get("pid") == pid else {}


def _is_ready(url: str, live_only: bool = False) -> bool:
    # A server started without versions is never ready until one is loaded.
    try:
        path = "/v2/health/live" if live_only else "/v2/health/ready"
        return request("GET", url, path, timeout=2.0)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def _refuse_if_running(name: str, config_path: Path, status_path: Path) -> None:
    try:
        got = json.loads(status_path.read_text())
    except (OSError, ValueError):
        return
    pid = got.get("pid") if isinstance(got, dict) else None
    if isinstance(pid, int) and _is_our_server(pid, str(config_path)):
        raise ServerStartError(
            f"a server named {name!r} already runs (pid {pid}, port {got.get('port')}); "
            "stop it first")


def _is_our_server(pid: int, config_path: str) -> bool:
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc (macOS): trust the pid
    return config_path.encode() in cmdline


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the server leads its own session and group
    except (ProcessLookupError, PermissionError):
        pass


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _reap(proc: subprocess.Popen[bytes]) -> None:
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    _children.pop(proc.pid, None)


__all__ = [
    "AdminError", "PortInUse", "ServerHandle", "ServerStartError", "ServerStats", "ServerStatus",
    "info", "load_version", "pid_alive", "read_log_tail", "record_versions", "remove_version", "server_status",
    "set_traffic", "start_server", "stats", "stop_server",
]
