"""Helpers for the rollout end-to-end tests: the quickstart copied to a temp dir,
the CLI as a subprocess, load that counts failures, and a watcher of the router's
traffic split read from the server's own admin API (real servers, 127.0.0.1 only)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"
ROW = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": [3, 2, 0, 0, 0, 0.73, 1, 0]}]}
CLI = [sys.executable, "-m", "mlform.engine.cli.main"]


def copy_quickstart(tmp: Path) -> Path:
    proj = tmp / "quickstart"
    shutil.copytree(QUICKSTART, proj, ignore=shutil.ignore_patterns(".mlform", "*.state.json*"))
    return proj


def mlform(cwd: Path, *args: str, timeout: float = 240, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=cwd, text=True, capture_output=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def state(proj: Path) -> dict[str, Any]:
    return json.loads((proj / "mlform.state.json").read_text())


def endpoint(proj: Path) -> dict[str, Any]:
    return next(r for r in state(proj)["resources"] if r["address"] == "endpoint.sentiment")


def digest_of(name: str) -> str:
    return str(json.loads((QUICKSTART / "models" / "metrics.json").read_text())[name]["digest"])


def vid(digest: str) -> str:
    return "v-" + digest.split(":")[1][:12]


def set_rollout(proj: Path, **attrs: str) -> None:
    """Rewrite attributes of the quickstart's rollout block (values as HCL source)."""
    cfg = proj / "main.mlf.hcl"
    text = cfg.read_text()
    for key, value in attrs.items():
        lines = text.splitlines()
        hit = [i for i, ln in enumerate(lines) if ln.strip().startswith(f"{key} ") or ln.strip().startswith(f"{key}=")]
        if hit:
            lines[hit[0]] = f"    {key} = {value}"
        else:
            lines.insert(next(i for i, ln in enumerate(lines) if ln.strip().startswith("rollout {")) + 1,
                         f"    {key} = {value}")
        text = "\n".join(lines) + "\n"
    cfg.write_text(text)


def admin(proj: Path, server: str = "sentiment") -> tuple[str, str]:
    """The server's URL and admin token, as the provider finds them (config file, never state)."""
    sdir = proj / ".mlform" / "servers" / server
    port = json.loads((sdir / "status.json").read_text())["port"]
    return f"http://127.0.0.1:{port}", json.loads((sdir / "config.json").read_text())["token"]


def info(proj: Path) -> dict[str, Any]:
    url, token = admin(proj)
    return httpx.get(url + "/mlform/info", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()


class Load:
    """Clients posting a request (the quickstart row unless told) until stopped; every non-200 is kept."""

    def __init__(self, url: str, clients: int = 2, body: dict[str, Any] | None = None, pause: float = 0.002) -> None:
        self.url, self.body, self.pause = url, body or ROW, pause
        self.errors: list[str] = []
        self.sent = 0
        self.served: dict[str, int] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        with httpx.Client(timeout=10, trust_env=False) as c:
            while not self.stop.is_set():
                try:
                    r = c.post(self.url, json=self.body)
                    if r.status_code != 200:
                        self.errors.append(f"{r.status_code} {r.text[:120]}")
                    else:
                        v = r.json()["model_version"]
                        self.served[v] = self.served.get(v, 0) + 1
                except httpx.HTTPError as e:
                    self.errors.append(repr(e))
                self.sent += 1
                time.sleep(self.pause)

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()


class TrafficWatch:
    """Samples the router's split (percent per version) from GET /mlform/info every 50 ms."""

    def __init__(self, proj: Path, server: str = "sentiment") -> None:
        self.url, self.token = admin(proj, server)
        self.samples: list[dict[str, float]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5, trust_env=False, headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self.stop.is_set():
                try:
                    w = c.get(self.url + "/mlform/info").json()["weights"]
                    if not self.samples or self.samples[-1] != w:
                        self.samples.append(w)
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)

    def percents_of(self, version: str) -> list[float]:
        """The distinct shares ``version`` had, in order."""
        out: list[float] = []
        for s in self.samples:
            p = round(s.get(version, 0.0))
            if not out or out[-1] != p:
                out.append(p)
        return out

    def __enter__(self) -> TrafficWatch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


# Where endpoint_settings() puts extra attributes in the quickstart's endpoint block.
SETTINGS_ANCHOR = "  depends_on = [eval_suite.golden]\n"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def endpoint_settings(proj: Path, body: str) -> None:
    """Put ``body`` (HCL lines) into the quickstart's endpoint block, replacing earlier ones."""
    cfg = proj / "main.mlf.hcl"
    text = re.sub(r"  # settings\n.*?  # end settings\n", "", cfg.read_text(), flags=re.S)
    cfg.write_text(text.replace(SETTINGS_ANCHOR, SETTINGS_ANCHOR + "  # settings\n" + body + "  # end settings\n"))
