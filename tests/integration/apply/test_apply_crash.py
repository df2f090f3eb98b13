"""kill -9 a real ``mlform apply`` at 50+ seeded points; the next command recovers.

After each kill: the state loads; after the next command (``plan``) every
object the provider holds is in state (an object created but not recorded
is adopted, not forgotten); the next ``apply`` leaves no orphan object; and
a final ``plan`` says no changes. The project alternates between two
configurations (replicas, counts) so kills land in creates, updates and
deletes; every fourth point starts from nothing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from mlform.engine.state import LocalBackend
from tests.fixtures.project import Project

WORKER = Path(__file__).with_name("apply_crash_worker.py")
CRASH_POINTS = 52
DELAY_S = 0.03  # per provider apply call, so a kill lands mid-apply (an apply faster than the kill window leaves fewer points inside it)

CONFIG = '''provider "testing" {}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
}

model "n" {
  provider = provider.testing
  source   = "./n.onnx"
}

endpoint "a" {
  count    = %(a)d
  provider = provider.testing
  model    = model.m
  replicas = %(replicas)d
}

endpoint "b" {
  count    = %(b)d
  provider = provider.testing
  model    = model.n
  replicas = 1
}
'''
VARIANTS = ({"a": 10, "b": 8, "replicas": 1}, {"a": 12, "b": 5, "replicas": 2})


def _line(stream: IO[str]) -> str:
    line = stream.readline()
    assert line, "crash helper died"
    return line.strip()


def _objects(project: Project) -> dict[str, dict]:  # type: ignore[type-arg]
    p = project.path / ".mlform" / "testing-objects.json"
    return json.loads(p.read_text()) if p.exists() else {}


def _state_ids(project: Project) -> dict[str, str]:
    st = LocalBackend(project.path / "mlform.state.json").read()
    return {r.attributes["id"]: r.address for r in st.resources} if st else {}


def _wait_for(log: Path, words: tuple[str, ...], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if any(w in text for w in words):
            return True
        time.sleep(0.002)
    return False


def test_kill_9_during_apply_then_the_next_commands_recover(tmp_project: Project) -> None:
    project = tmp_project
    for name in ("m.onnx", "n.onnx"):
        project.write(name, name)
    env = dict(os.environ, MLFORM_TESTING_APPLY_DELAY=str(DELAY_S), NO_COLOR="1")
    env.pop("MLFORM_DEBUG", None)
    cfg_file = project.path.parent / "warm.mlf.hcl"
    cfg_file.write_text(CONFIG % VARIANTS[0])
    helper = subprocess.Popen([sys.executable, str(WORKER), str(cfg_file)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env)
    assert helper.stdin is not None and helper.stdout is not None
    in_apply = adopted = killed_mid_apply = 0
    no_env = {"MLFORM_TESTING_APPLY_DELAY": None}
    try:
        assert _line(helper.stdout) == "READY"
        for seed in range(CRASH_POINTS):
            rng = random.Random(seed)
            if seed % 4 == 0:  # from nothing
                shutil.rmtree(project.path / ".mlform", ignore_errors=True)
                for f in project.path.glob("mlform.state.json*"):
                    f.unlink()
            project.write("main.mlf.hcl", CONFIG % VARIANTS[seed % 2])
            log = project.path.parent / f"apply-{seed}.log"
            helper.stdin.write(f"RUN {project.path} {log}\n")
            helper.stdin.flush()
            pid = int(_line(helper.stdout).split()[1])
            # Most kills inside the apply phase; every third anywhere from the start.
            if seed % 3 != 0 and _wait_for(log, ("Creating...", "Modifying...", "Destroying...")):
                in_apply += 1
                time.sleep(rng.uniform(0, 0.25))
            else:
                time.sleep(rng.uniform(0, 0.6))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it finished first (and was reaped)
                pass
            status = int(_line(helper.stdout).split()[1])
            text = log.read_text()
            if not os.WIFSIGNALED(status):
                assert os.WEXITSTATUS(status) == 0, f"point {seed}: apply failed by itself\n{text}"
            else:
                killed_mid_apply += "Creating..." in text or "Modifying..." in text or "Destroying..." in text

            # 1. The state loads (journal replayed) after any kill.
            LocalBackend(project.path / "mlform.state.json").read()
            # 2. The next command recovers: every object the provider holds is in state.
            r = project.run("plan", env=no_env)
            assert r.exit_code == 0, f"point {seed}\n{r}"
            adopted += r.stdout.count("adopted an object left by an interrupted run")
            objs = _objects(project)
            ids = _state_ids(project)
            missing = {i: o["address"] for i, o in objs.items() if i not in ids}
            assert not missing, f"point {seed}: objects created but not in state after recovery: {missing}\n{text}"
            # 3. The next apply converges and leaves no orphan object behind.
            r = project.run("apply", "--auto-approve", env=no_env)
            assert r.exit_code == 0, f"point {seed}\n{r}"
            objs, ids = _objects(project), _state_ids(project)
            assert set(objs) == set(ids), f"point {seed}: orphans {set(objs) - set(ids)}, " \
                                          f"recorded but gone {set(ids) - set(objs)}"
            want = VARIANTS[seed % 2]
            assert len(ids) == 2 + want["a"] + want["b"]
            assert all(objs[i]["address"] == a for i, a in ids.items())
            # 4. A final plan says no changes.
            r = project.run("plan", "--detailed-exitcode", env=no_env)
            assert r.exit_code == 0, f"point {seed}\n{r}"
            assert not (project.path / "mlform.state.json.journal").exists()
    finally:
        helper.stdin.close()
        helper.wait(timeout=30)
        helper.stdout.close()

    assert in_apply >= CRASH_POINTS // 2, "most kills land inside the apply phase"
    assert killed_mid_apply >= CRASH_POINTS // 2, "most kills interrupt provider calls"
    assert adopted >= 1, "some kill should land between a provider's create and its record"
