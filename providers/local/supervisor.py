"""``python -m mlform.providers.local.supervisor --config FILE``: keep one model server running.

:func:`~mlform.providers.local.process.start_server` starts this small process,
detached, in place of the server; it starts the server
(``python -m mlform.providers.server``) as its child, in its own process
group, and restarts it when it exits abnormally, as systemd's
``Restart=on-failure`` and a Kubernetes pod's ``restartPolicy`` do:

- a crash (a signal, or a non-zero exit once the server was serving) is
  restarted after a back-off of 0.5 s, doubling up to 10 s; the back-off goes
  back to 0.5 s once a server has run for :data:`WINDOW_S` seconds;
- more than :data:`LIMIT` restarts within :data:`WINDOW_S` seconds and it gives up:
  the status file says ``"state": "failed"`` and the supervisor exits (1);
- a clean exit (code 0, as after ``POST /mlform/shutdown``, or ended by
  ``SIGTERM``, ``SIGINT``, ``SIGHUP`` or ``SIGPIPE``, as systemd counts them) is not
  restarted, and the supervisor exits too; neither is a server that fails while first starting: its
  error and exit code are passed on, as the server alone reports them;
- ``SIGTERM``/``SIGINT`` to the supervisor stop the server and then the
  supervisor; if the supervisor is killed, the server gets ``SIGTERM``
  (``PR_SET_PDEATHSIG``, Linux).

Every restart binds the port (and gRPC port) the first run got, so the
endpoint's URL stays valid. The status file (``status.json``) is the
supervisor's::

    {"pid": <supervisor>, "server_pid", "port", "grpc_port", "state": "running" |
     "restarting" | "failed" | "stopped", "restarts", "last_exit": "signal 9" | "exit code 3",
     "last_restart": <epoch seconds>, "error", "exit_code"}

The server itself reports to ``server-status.json`` beside it.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

SERVER_MODULE = "mlform.providers.server"
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 10.0  # back-off before a restart: doubles from the first to the max
LIMIT, WINDOW_S = 5, 60.0  # more than LIMIT restarts within WINDOW_S seconds: give up
SERVER_STATUS = "server-status.json"
# A stop, not a crash (as systemd's Restart=on-failure counts them): exit 0, or the signals
# a process is asked to stop with (uvicorn re-raises SIGTERM/SIGINT once it has shut down).
CLEAN_EXITS = frozenset({0, -signal.SIGTERM, -signal.SIGINT, -signal.SIGHUP, -signal.SIGPIPE})
_PR_SET_PDEATHSIG = 1


def describe_exit(code: int) -> str:
    """``signal 9`` for a process killed by a signal (a negative Popen return code), else ``exit code N``."""
    return f"signal {-code}" if code < 0 else f"exit code {code}"


class Supervisor:
    """Runs one server, restarting it under the policy above; :meth:`run` returns the exit code."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.status_path = config_path.parent / "status.json"
        self.child_status = config_path.parent / SERVER_STATUS
        self.child: subprocess.Popen[bytes] | None = None
        self.stopping = False
        self.port: int | None = None
        self.grpc_port: int | None = None
        self.restarts = 0
        self.recent: list[float] = []  # monotonic times of restarts within the window
        self.last_exit: str | None = None
        self.last_restart: float | None = None

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        delay = FIRST_DELAY_S
        while True:
            started = time.monotonic()
            code, served = self._run_child()
            if self.stopping or code in CLEAN_EXITS:
                if served:
                    self._write("stopped", last_exit=describe_exit(code))
                return 0
            if not served and self.restarts == 0:
                return self._pass_on_startup_failure(code)
            self.last_exit = describe_exit(code)
            now = time.monotonic()
            if now - started >= WINDOW_S:
                delay = FIRST_DELAY_S  # it ran long enough: a new crash starts the back-off again
            self.recent = [t for t in self.recent if now - t < WINDOW_S]
            if len(self.recent) >= LIMIT:
                print(f"mlform supervisor: the server exited ({self.last_exit}) after {len(self.recent)} "
                      f"restarts in {WINDOW_S:g}s; giving up", file=sys.stderr, flush=True)
                self._write("failed", error=f"gave up after {len(self.recent)} restarts in {WINDOW_S:g}s "
                                            f"(last exit: {self.last_exit})")
                return 1
            print(f"mlform supervisor: the server exited ({self.last_exit}); restarting in {delay:g}s",
                  file=sys.stderr, flush=True)
            self._write("restarting", next_start=time.time() + delay)
            self._sleep(delay)
            if self.stopping:
                return 0
            delay = min(delay * 2, MAX_DELAY_S)
            self.recent.append(time.monotonic())
            self.restarts += 1
            self.last_restart = time.time()
            print(f"=== mlform server restart {self.restarts} "
                  f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===", file=sys.stderr, flush=True)

    def _run_child(self) -> tuple[int, bool]:
        """Start the server and wait for it to exit: its return code, and whether it served."""
        self.child_status.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", SERVER_MODULE, "--config", str(self.config_path),
               "--port-file", str(self.child_status)]
        if self.port is not None:  # a restart: the port the first run got, so the URL stays valid
            cmd += ["--port", str(self.port)]
            if self.grpc_port is not None:
                cmd += ["--grpc-port", str(self.grpc_port)]
        self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, close_fds=True, preexec_fn=_die_with_parent,
                                      env={**os.environ, "MLFORM_SUPERVISED": "1"})
        served = False
        while True:
            code = self.child.poll()
            if not served:
                got = _read(self.child_status)
                if got.get("pid") == self.child.pid and got.get("port"):
                    served = True
                    self.port = int(got["port"])
                    self.grpc_port = int(got["grpc_port"]) if got.get("grpc_port") else None
                    self._write("running")
            if code is not None:
                return code, served
            time.sleep(0.1)

    def _pass_on_startup_failure(self, code: int) -> int:
        """The first start failed: report it as the server did (error and exit code), no restart."""
        got = _read(self.child_status)
        if got.get("error"):
            _write_json(self.status_path, {"pid": os.getpid(), "error": got["error"],
                                           "exit_code": got.get("exit_code", code)})
        return code if code > 0 else 128 - code

    def _write(self, state: str, **extra: Any) -> None:
        assert self.child is not None
        _write_json(self.status_path, {
            "pid": os.getpid(), "server_pid": self.child.pid, "port": self.port, "grpc_port": self.grpc_port,
            "state": state, "restarts": self.restarts, "last_exit": self.last_exit,
            "last_restart": self.last_restart, **extra})

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            try:
                self.child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the supervisor dies (Linux; elsewhere nothing)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _read(path: Path) -> dict[str, Any]:
    try:
        got = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return got if isinstance(got, dict) else {}


def _write_json(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlform.providers.local.supervisor")
    parser.add_argument("--config", required=True, help="the server's config file (JSON)")
    args = parser.parse_args(argv)
    return Supervisor(Path(args.config).resolve()).run()


if __name__ == "__main__":
    sys.exit(main())
