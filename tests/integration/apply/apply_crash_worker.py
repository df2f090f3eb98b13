"""Crash-test helper: a fork server whose children run ``mlform apply`` until killed.

Run as a script. It imports mlform and runs one warm-up apply, prints
``READY``, then for each ``RUN <project> <log>`` line on stdin forks a child
that runs ``mlform --chdir <project> apply --auto-approve`` with its output
in ``<log>``, and prints ``PID <pid>``; when the child ends (the test kills
it with SIGKILL) it prints ``EXIT <status>``. Forking from a warm process
keeps 50+ crash points fast; the kill itself is a real ``kill -9`` of a
process in the middle of a real apply.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from mlform.engine.cli.main import main


def _run(project: str, log: str, args: list[str]) -> int:
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    os.chdir(project)
    return main(["--chdir", project, *args])


def _warm_up(config: str) -> None:
    """Import and exercise everything an apply uses once, before forking."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "main.mlf.hcl").write_text(config)
        pid = os.fork()
        if pid == 0:
            os._exit(_run(d, os.path.join(d, "log"), ["apply", "--auto-approve"]))
        os.waitpid(pid, 0)
    # The parent must hold the imports too; plan once in-process, quietly.
    with tempfile.TemporaryDirectory() as d:
        Path(d, "main.mlf.hcl").write_text(config)
        saved = os.dup(1)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        try:
            main(["--chdir", d, "plan", "--lock=false"])
            sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(null)
            os.close(saved)


def serve() -> None:
    _warm_up(Path(sys.argv[1]).read_text())
    print("READY", flush=True)
    for line in sys.stdin:
        _, project, log = line.split()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _run(project, log, ["apply", "--auto-approve", "--parallelism", "4"])
            finally:
                os._exit(code)
        print(f"PID {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"EXIT {status}", flush=True)


if __name__ == "__main__":
    serve()
