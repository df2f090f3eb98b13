#!/usr/bin/env python3
"""Engine benchmark: mlform against Terraform on equivalent projects (issue #6).

Generates, for each size N and shape, the same graph for both tools:

* wide: N independent resources;
* layered: 10 layers of N/10, each resource referencing one resource of the
  previous layer.

Terraform uses the built-in ``terraform_data`` resource (no provider
download); mlform uses ``prompt`` resources (pure state, nothing served).

For each tool and project it measures, as the median of ``--runs`` runs after
one warm-up run, the wall time and peak RSS (``os.wait4`` per child process)
of: apply from an empty state; a no-op plan with a warm and with a cold parse
cache (Terraform has no parse cache: its two rows are the same command); a
plan after changing 1% of the resources; and the state size in bytes. Every
command's exit status is checked (``-detailed-exitcode``: 0 for the no-op
plan, 2 for the 1% plan), so a tool that does nothing cannot look fast.

Prints a table with the mlform/Terraform ratio of each row and the exponent
of each curve (least squares on log t / log N over the sizes run), and writes
everything to ``bench/results/engine-<date>.json``.

    python bench/engine.py --smoke                 # N=100, both shapes, 1 run (CI)
    python bench/engine.py                         # N=100,1000,5000, 5 runs
    python bench/engine.py --sizes 1000 --shapes wide --runs 3

Without a ``terraform`` binary the mlform rows are still measured (ratios
are left out). Nothing here talks to the network: Terraform runs with
``CHECKPOINT_DISABLE=1`` and an empty CLI configuration.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYERS = 10
CHANGED_EVERY = 100  # 1% of the resources: every 100th one

# Targets from the issue: mlform / Terraform, same run, at N=1000 and N=5000
# (at N=100 both tools are mostly start-up time; the ratio is printed, not judged).
TARGETS = {"apply_s": 0.1, "plan_warm_s": 0.5, "plan_cold_s": 1.0, "plan_rss_mb": 1.0}
TARGET_MIN_N = 1000


# --- projects ---------------------------------------------------------------------

def _layer_size(n: int, shape: str) -> int:
    return max(1, n // LAYERS) if shape == "layered" else n


def mlform_project(n: int, shape: str, changed: bool = False) -> str:
    per = _layer_size(n, shape)
    out = []
    for i in range(n):
        tag = "v2" if changed and i % CHANGED_EVERY == CHANGED_EVERY - 1 else "v1"
        ref = f"\n  model_params = {{ tag = prompt.p{i - per}.version }}" if i >= per and shape == "layered" else ""
        out.append(f'prompt "p{i}" {{\n  template  = "hello {{{{ x }}}} {i} {tag}"\n  variables = ["x"]{ref}\n}}\n')
    return "\n".join(out)


def terraform_project(n: int, shape: str, changed: bool = False) -> str:
    per = _layer_size(n, shape)
    out = []
    for i in range(n):
        tag = "v2" if changed and i % CHANGED_EVERY == CHANGED_EVERY - 1 else "v1"
        # A layered resource carries its own value too, so a change is a change of input.
        val = f'"r{i} {tag} ${{terraform_data.r{i - per}.output}}"' if i >= per and shape == "layered" \
            else f'"r{i} {tag}"'
        out.append(f'resource "terraform_data" "r{i}" {{\n  input = {val}\n}}\n')
    return "\n".join(out)


# --- tools ---------------------------------------------------------------------------

@dataclass
class Tool:
    name: str
    config_name: str
    state_files: tuple[str, ...]
    cache_dir: str | None

    def argv(self, what: str) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def project(self, n: int, shape: str, changed: bool = False) -> str:
        raise NotImplementedError


class Mlform(Tool):
    def __init__(self) -> None:
        super().__init__("mlform", "main.mlf.hcl",
                         ("mlform.state.json", "mlform.state.json.backup", "mlform.state.json.journal"),
                         ".mlform/cache")
        # The console script beside this interpreter, as a user runs it (a
        # pyenv or venv shim would add its own start-up time).
        script = Path(sys.executable).parent / "mlform"
        self.cmd = [str(script)] if script.exists() else [sys.executable, "-m", "mlform.engine.cli.main"]

    def argv(self, what: str) -> list[str]:
        return self.cmd + {"apply": ["apply", "--auto-approve"],
                           "plan": ["plan", "--detailed-exitcode"]}[what]

    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e.pop("MLFORM_DEBUG", None)
        # An installed package has its bytecode compiled; without this, a
        # PYTHONDONTWRITEBYTECODE=1 environment recompiles every module on
        # every run (~0.2 s), which is not what a user's mlform costs.
        e.pop("PYTHONDONTWRITEBYTECODE", None)
        e["NO_COLOR"] = "1"
        return e

    def project(self, n: int, shape: str, changed: bool = False) -> str:
        return mlform_project(n, shape, changed)


class Terraform(Tool):
    def __init__(self, binary: str, scratch: Path) -> None:
        super().__init__("terraform", "main.tf", ("terraform.tfstate", "terraform.tfstate.backup"), None)
        self.binary = binary
        self.rc = scratch / "terraformrc"
        self.rc.write_text("")

    def argv(self, what: str) -> list[str]:
        return [self.binary] + {"apply": ["apply", "-auto-approve", "-input=false", "-no-color"],
                                "plan": ["plan", "-input=false", "-no-color", "-detailed-exitcode"]}[what]

    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e.update(TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1", TF_CLI_CONFIG_FILE=str(self.rc))
        return e

    def project(self, n: int, shape: str, changed: bool = False) -> str:
        return terraform_project(n, shape, changed)


# --- measuring -----------------------------------------------------------------------

@dataclass
class Sample:
    seconds: float
    rss_mb: float
    cpu_s: float = 0.0  # user + system time of the child: steadier than wall time on a shared machine


def run_once(argv: list[str], cwd: Path, env: dict[str, str], want_rc: int, log: Path) -> Sample:
    """Run one command; its own wall time and peak RSS (``wait4``, this child only)."""
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(p.pid, 0)
        seconds = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)  # so Popen does not wait again
    if p.returncode != want_rc:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"\n{' '.join(argv)} in {cwd} exited {p.returncode}, expected {want_rc}:\n{tail}")
    return Sample(seconds, ru.ru_maxrss / 1024, ru.ru_utime + ru.ru_stime)  # ru_maxrss is in KiB on Linux


@dataclass
class Row:
    tool: str
    n: int
    shape: str
    metric: str
    value: float
    runs: int
    samples: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, runs: int, row_budget_s: float, verbose: bool = True) -> None:
        self.runs, self.row_budget_s, self.verbose = runs, row_budget_s, verbose
        self.rows: list[Row] = []

    def say(self, msg: str) -> None:
        if self.verbose:
            sys.stderr.write(msg + "\n")
            sys.stderr.flush()

    def measure(self, tool: Tool, d: Path, what: str, want_rc: int, before: Any = None) -> tuple[list[Sample], int]:
        """One warm-up, then ``runs`` runs (fewer when one run is slower than the row budget allows)."""
        log = d.parent / f"{tool.name}.log"
        if before:
            before()
        warm = run_once(tool.argv(what), d, tool.env(), want_rc, log)
        if warm.seconds > self.row_budget_s:
            # A run longer than the whole row budget (Terraform's apply at N=5000): a
            # warm-up buys nothing measurable, so it is the row's one sample.
            return [warm], 1
        runs = max(1, min(self.runs, int(self.row_budget_s // max(warm.seconds, 1e-3))))
        out = []
        for _ in range(runs):
            if before:
                before()
            out.append(run_once(tool.argv(what), d, tool.env(), want_rc, log))
        return out, runs

    def record(self, tool: Tool, n: int, shape: str, metric: str, samples: list[Sample], runs: int,
               attr: str) -> None:
        vals = [getattr(s, attr) for s in samples]
        med = statistics.median(vals)
        self.rows.append(Row(tool.name, n, shape, metric, med, runs, vals))
        unit = "MB" if attr == "rss_mb" else "s"
        self.say(f"  {tool.name:9} N={n:<5} {shape:7} {metric:12} {med:9.3f} {unit}  ({runs} run{'s' * (runs > 1)})")

    def project(self, tool: Tool, n: int, shape: str, base: Path) -> None:
        d = base / f"{tool.name}-{n}-{shape}" / "project"
        d.mkdir(parents=True)
        cfg = d / tool.config_name
        cfg.write_text(tool.project(n, shape))

        def empty_state() -> None:
            for f in tool.state_files:
                (d / f).unlink(missing_ok=True)

        def cold_cache() -> None:
            if tool.cache_dir:
                shutil.rmtree(d / tool.cache_dir, ignore_errors=True)

        s, r = self.measure(tool, d, "apply", 0, before=empty_state)
        self.record(tool, n, shape, "apply_s", s, r, "seconds")
        self.record(tool, n, shape, "apply_cpu_s", s, r, "cpu_s")
        self.record(tool, n, shape, "apply_rss_mb", s, r, "rss_mb")
        state = d / tool.state_files[0]
        self.rows.append(Row(tool.name, n, shape, "state_bytes", state.stat().st_size, 1))
        self.say(f"  {tool.name:9} N={n:<5} {shape:7} state_bytes  {state.stat().st_size:9d}")
        s, r = self.measure(tool, d, "plan", 0)
        self.record(tool, n, shape, "plan_warm_s", s, r, "seconds")
        self.record(tool, n, shape, "plan_warm_cpu_s", s, r, "cpu_s")
        self.record(tool, n, shape, "plan_rss_mb", s, r, "rss_mb")
        s, r = self.measure(tool, d, "plan", 0, before=cold_cache)
        self.record(tool, n, shape, "plan_cold_s", s, r, "seconds")
        self.record(tool, n, shape, "plan_cold_cpu_s", s, r, "cpu_s")
        cfg.write_text(tool.project(n, shape, changed=True))
        s, r = self.measure(tool, d, "plan", 2)
        self.record(tool, n, shape, "plan_1pct_s", s, r, "seconds")
        shutil.rmtree(d.parent, ignore_errors=True)


# --- report --------------------------------------------------------------------------

METRICS = ["apply_s", "apply_cpu_s", "apply_rss_mb", "plan_warm_s", "plan_warm_cpu_s", "plan_cold_s",
           "plan_cold_cpu_s", "plan_rss_mb", "plan_1pct_s", "state_bytes"]


def exponent(points: list[tuple[int, float]]) -> float | None:
    """Slope of log(value) against log(N): 1.0 is linear, 2.0 quadratic."""
    pts = [(math.log(n), math.log(v)) for n, v in points if v > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / den if den else None


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "state_bytes":
        return f"{int(v):,}"
    if metric.endswith("_mb"):
        return f"{v:.0f}"
    return f"{v:.3f}"


def table(rows: list[Row], sizes: list[int], shapes: list[str]) -> tuple[str, list[dict[str, Any]]]:
    val = {(r.tool, r.n, r.shape, r.metric): r for r in rows}
    lines = ["| N | shape | metric | mlform | terraform | ratio | target | runs (mlf/tf) |",
             "|---:|---|---|---:|---:|---:|---:|---|"]
    summary = []
    for n in sizes:
        for shape in shapes:
            for m in METRICS:
                a, b = val.get(("mlform", n, shape, m)), val.get(("terraform", n, shape, m))
                ratio = a.value / b.value if a and b and b.value else None
                tgt = TARGETS.get(m) if n >= TARGET_MIN_N else None
                verdict = "" if tgt is None or ratio is None else (" ok" if ratio <= tgt else " MISSED")
                lines.append(f"| {n} | {shape} | {m} | {_fmt(m, a.value if a else None)} | "
                             f"{_fmt(m, b.value if b else None)} | {'-' if ratio is None else f'{ratio:.2f}'} | "
                             f"{'' if tgt is None else f'<= {tgt}'}{verdict} | "
                             f"{a.runs if a else '-'}/{b.runs if b else '-'} |")
                summary.append({"n": n, "shape": shape, "metric": m, "mlform": a.value if a else None,
                                "terraform": b.value if b else None, "ratio": ratio, "target": tgt,
                                "met": None if tgt is None or ratio is None else ratio <= tgt})
    # Start-up time flattens the curve from N=100; the fit over N >= 1000 shows how
    # the per-resource cost grows (super-linear growth: k well above 1).
    large = [n for n in sizes if n >= TARGET_MIN_N]
    fits = [("all", sizes)] + ([("large", large)] if len(large) >= 2 and len(large) < len(sizes) else [])
    if len(sizes) >= 2:
        head = " | ".join(f"{tool} k ({'N>=' + str(TARGET_MIN_N) if name == 'large' else 'all N'})"
                          for name, _ in fits for tool in ("mlform", "terraform"))
        lines += ["", "Exponents (value ~ N^k, least squares over N = " + ", ".join(map(str, sizes)) + "):", "",
                  f"| shape | metric | {head} |", "|---|---|" + "---:|" * (2 * len(fits))]
        for shape in shapes:
            for m in METRICS:
                ks = []
                for name, ns in fits:
                    for tool in ("mlform", "terraform"):
                        pts = [(n, val[(tool, n, shape, m)].value) for n in ns if (tool, n, shape, m) in val]
                        k = exponent(pts) if len(pts) == len(ns) else None
                        ks.append("-" if k is None else f"{k:.2f}")
                        summary.append({"shape": shape, "metric": m, "tool": tool, "fit": name, "exponent": k})
                lines.append(f"| {shape} | {m} | " + " | ".join(ks) + " |")
    return "\n".join(lines), summary


def _load(avg: Any) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def machine(tf: str | None) -> dict[str, Any]:
    cpu = ""
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    tfv = None
    if tf:
        try:
            tfv = subprocess.run([tf, "version", "-json"], capture_output=True, text=True, timeout=30,
                                 env={**os.environ, "CHECKPOINT_DISABLE": "1"}).stdout
            tfv = json.loads(tfv).get("terraform_version")
        except (OSError, ValueError, subprocess.SubprocessError):
            tfv = None
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "terraform": tfv, "mlform_commit": commit, "loadavg": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="N=100, wide and layered, 1 run (CI)")
    ap.add_argument("--sizes", default="100,1000,5000")
    ap.add_argument("--shapes", default="wide,layered")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--row-budget", type=float, default=150.0,
                    help="seconds of measured runs per row: slower rows get fewer runs (said in the table)")
    ap.add_argument("--tools", default="mlform,terraform")
    ap.add_argument("--out", type=Path, default=None, help="JSON file (default bench/results/engine-<date>.json)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.sizes, args.runs = "100", 1
    sizes = [int(x) for x in args.sizes.split(",")]
    shapes = args.shapes.split(",")
    wanted = args.tools.split(",")
    tf = shutil.which("terraform") if "terraform" in wanted else None
    bench = Bench(args.runs, args.row_budget)
    info = machine(tf)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="mlform-bench-") as tmp:
        base = Path(tmp)
        tools: list[Tool] = []
        if "mlform" in wanted:
            tools.append(Mlform())
        if tf:
            tools.append(Terraform(tf, base))
        elif "terraform" in wanted:
            bench.say("terraform not found on PATH: measuring mlform only (no ratios)")
        for n in sizes:
            for shape in shapes:
                for tool in tools:
                    bench.say(f"{tool.name}: N={n} {shape}")
                    bench.project(tool, n, shape, base)
    text, summary = table(bench.rows, sizes, shapes)
    info["loadavg_after"] = os.getloadavg()
    info["seconds"] = round(time.time() - started, 1)
    print(f"\nEngine benchmark, {dt.date.today()}, {info['cpu']} ({info['cpus']} CPUs), Python {info['python']}, "
          f"Terraform {info['terraform'] or '-'}, runs={args.runs} after 1 warm-up, row budget {args.row_budget:.0f} s\n"
          f"took {info['seconds']:.0f} s; load average before {_load(info['loadavg'])}, after "
          f"{_load(info['loadavg_after'])} (on a shared machine trust the *_cpu_s rows over wall times)\n")
    print(text)
    out = args.out or ROOT / "bench" / "results" / f"engine-{dt.date.today()}{'-smoke' if args.smoke else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                               "rows": [asdict(r) for r in bench.rows], "summary": summary}, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
