"""Run one fuzz case in-process, as validate, plan and apply of a saved plan would.

The case's files are written into a scratch project directory; then

* the configuration is loaded and validated (``load_config``, ``Core.validate``);
* the project is opened and planned (``Core.open``, ``Core.plan``) with the
  case's var files, ``--var`` values and ``MLF_VAR_*`` environment;
* a plan is saved, mutated (values replaced, deleted, retyped), re-sealed with
  a correct digest so that it gets past the tamper check, and read back
  (``read_plan``, ``Core.check_saved_plan``, ``Core.context_for``);
* for some cases the CLI itself runs in-process (``plan --out``, ``--var-file``),
  for the flag and path errors only it can make.

Any exception other than :class:`DiagnosticsError` (and, from the CLI, any
output that says "internal error") is a finding: what a user would see as
"This is a bug in mlform".
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Iterator

from tests.fuzz.gen import Case, Gen, make_case

CASE_TIMEOUT_S = 20
REACHED: Counter[str] = Counter()  # how many cases got as far as each stage (is the fuzzer getting deep?)


@dataclass
class Finding:
    case: str
    stage: str
    kind: str      # exception type, or "timeout"
    message: str
    where: str     # innermost mlform frame: file:line in function

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.where)


class _Timeout(BaseException):
    pass


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _Timeout()


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            os.environ[k] = v.replace("\x00", "")  # the environment cannot hold NUL
        yield
    finally:
        for k, was in old.items():
            if was is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = was


def _where(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in tb if "/engine/" in f.filename or "/providers/" in f.filename] or tb
    if not ours:
        return "?"
    f = ours[-1]
    return f"{Path(f.filename).parent.name}/{Path(f.filename).name}:{f.lineno} in {f.name}"


def write_case(case: Case, root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, text in case.files.items():
        p = root / rel
        if text is None:
            p.mkdir(parents=True, exist_ok=True)
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8", errors="surrogatepass")


def _reseal(doc: dict[str, Any]) -> dict[str, Any]:
    from mlform.engine.plan.planfile import _canonical

    doc.pop("digest", None)
    doc["digest"] = "sha256:" + hashlib.sha256(_canonical(doc)).hexdigest()
    return doc


def _core_stages(case: Case, root: Path) -> Iterator[str]:
    """Run the in-process stages, yielding each stage's name before it starts."""
    from mlform.engine.config.decode import load_config
    from mlform.engine.config.variables import VarSources
    from mlform.engine.core import Core, PlanOptions
    from mlform.engine.plan.planfile import read_plan, save_plan

    yield "validate"
    cfg, d = load_config(root, use_cache=False)
    if cfg is None or d.has_errors:
        return
    Core(cfg).validate()
    yield "plan"
    core, d = Core.open(root, use_cache=False, check_init=False)
    if core is None:
        return
    src = VarSources([("file", str(root / f)) for f in case.var_files] + [("var", v) for v in case.vars])
    res = core.plan(PlanOptions(var_sources=src))
    if res.plan is None:
        return
    yield "saved-plan"
    path = root / "saved.plan"
    save_plan(res.plan, path)
    if not case.plan_mutations:
        return
    g = Gen(__import__("random").Random(case.seed + ":plan"))
    doc = json.loads(path.read_text())
    for _ in range(case.plan_mutations):
        doc = g.mutate_json_doc(doc)
    path.write_text(json.dumps(_reseal(doc) if isinstance(doc, dict) else doc))
    plan, _ = read_plan(path)
    core.check_saved_plan(plan)
    core.context_for(plan)


def _cli(case: Case, root: Path) -> str:
    from mlform.engine.cli.main import main

    args = ["--chdir", str(root), "plan", "--lock=false"]
    for f in case.var_files:
        args += ["--var-file", f]
    for v in case.vars:
        args += ["--var", v]
    if case.plan_out is not None:
        args += ["--out", case.plan_out]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        main(args)
    return err.getvalue()


def run_case(case: Case, root: Path) -> list[Finding]:
    """Run ``case`` in ``root`` (emptied first); the internal errors it hit."""
    from mlform.engine.diagnostics import DiagnosticsError

    write_case(case, root)
    found: list[Finding] = []
    stage = "write"
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_TIMEOUT_S)
    try:
        with _environ(case.env):
            try:
                for stage in _core_stages(case, root):
                    REACHED[stage] += 1
            except DiagnosticsError:
                pass
            except _Timeout:
                found.append(Finding(case.seed, stage, "timeout", f"over {CASE_TIMEOUT_S}s", "?"))
            except (Exception, RecursionError) as exc:  # noqa: BLE001 - the finding
                found.append(Finding(case.seed, stage, type(exc).__name__, str(exc)[:300], _where(exc)))
            if case.cli and not found:
                stage = "cli"
                REACHED[stage] += 1
                try:
                    err = _cli(case, root)
                except _Timeout:
                    found.append(Finding(case.seed, stage, "timeout", f"over {CASE_TIMEOUT_S}s", "?"))
                else:
                    if "internal error" in err or "Traceback" in err:
                        line = next((ln for ln in err.splitlines() if "internal error" in ln), err[-300:])
                        found.append(Finding(case.seed, stage, "cli", line.strip()[:300], "cli"))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    return found


def run_many(seed: int, start: int, count: int, root: Path) -> tuple[int, list[Finding], Counter[str]]:
    findings: list[Finding] = []
    before = REACHED.copy()
    for n in range(start, start + count):
        findings += run_case(make_case(seed, n), root)
    return count, findings, REACHED - before


__all__ = ["Finding", "run_case", "run_many", "write_case"]
