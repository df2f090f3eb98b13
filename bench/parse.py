"""Parse speed of the HCL loader: the hand-written parser, python-hcl2's, and what users get.

Usage::

    python bench/parse.py              # 3 runs over the corpus (~1 min on 2 vCPUs)
    python bench/parse.py --smoke      # 1 run, a small corpus (CI, a few seconds)
    python bench/parse.py --runs 5 --scale 40

The corpus: every ``*.hcl`` / ``*.tf`` configuration in the repository
(``tests/``, ``examples/``) plus generated files in the shapes real
configurations have (blocks with labels, nested blocks, heredocs with
templates, ``for`` expressions, conditionals, function calls, comments),
``--scale`` copies of them. Rows:

- ``parse_text``: what ``mlform`` does for each file (the fast parser, and
  python-hcl2 where it falls back); files that are syntax errors count too.
- ``fast only``: the hand-written parser alone, on the files it accepts.
- ``lark only``: python-hcl2's path alone, on a tenth of the files (it is
  ~10x slower).

Prints MB/s and lines/s (best of the runs) and writes them to
``bench/results/parse-<date>.json``. Tests never assert on timings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def repository_files() -> list[str]:
    out: list[str] = []
    for top in ("tests", "examples"):
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and ".mlform" not in p.parts and p.name.endswith((".hcl", ".tf")):
                out.append(p.read_text(encoding="utf-8"))
    return out


def generated_file(i: int) -> str:
    """One file in the shapes of real modules: variables, locals, resources, outputs."""
    return f'''# generated file {i}
variable "name_{i}" {{
  type        = string
  default     = "svc-{i}"
  description = "The service name"
}}

locals {{
  tags_{i} = {{ for k, v in var.tags : k => lower(v) if v != "" }}
  names_{i} = [for s in var.subnets : "${{var.prefix}}-${{s.name}}"]
  size_{i}  = var.big ? 3 * var.count + 1 : (var.count - 1) / 2
}}

resource "aws_instance" "web_{i}" {{
  count         = var.enabled ? length(var.azs) : 0
  ami           = data.aws_ami.ubuntu.id
  instance_type = lookup(var.types, "web", "t3.micro")
  subnet_id     = element(module.vpc.private_subnets[*].id, count.index)

  /* a block comment */
  user_data = <<-EOT
    #!/bin/bash
    echo "hello ${{var.name_{i}}}"
    %{{ for p in var.ports ~}}
    open ${{p}}
    %{{ endfor ~}}
  EOT

  ebs_block_device {{
    device_name = "/dev/sdg"
    volume_size = 5
    tags        = merge(local.tags_{i}, {{ Name = "disk-${{count.index}}" }})
  }}

  lifecycle {{
    ignore_changes = [tags["Updated"], ami]
  }}
}}

output "ids_{i}" {{
  value = aws_instance.web_{i}[*].id
}}
'''


def corpus(scale: int) -> list[str]:
    return repository_files() + [generated_file(i) for i in range(20 * scale)]


def _time(fn: Callable[[str, str], object], files: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        for text in files:
            try:
                fn(text, "main.mlf.hcl")
            except Exception:  # noqa: BLE001 - syntax errors are part of the corpus
                pass
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="1 run, a small corpus (CI)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=int, default=20, help="generated files: 20 x scale")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    runs, scale = (1, 2) if args.smoke else (args.runs, args.scale)

    from mlform.engine.load import fastparse
    from mlform.engine.load.hcl import parse_text, parse_text_lark

    files = corpus(scale)
    accepted = []
    for text in files:
        try:
            fastparse.parse(text, "main.mlf.hcl")
            accepted.append(text)
        except fastparse.Fallback:
            pass
    subset = files[::10]
    rows = {
        "parse_text": (files, _time(parse_text, files, runs)),
        "fast only": (accepted, _time(fastparse.parse, accepted, runs)),
        "lark only": (subset, _time(parse_text_lark, subset, runs)),
    }
    result: dict[str, object] = {"date": dt.date.today().isoformat(), "runs": runs, "files": len(files),
                                 "fast_accepts": len(accepted), "rows": {}}
    print(f"corpus: {len(files)} files, {sum(map(len, files)) / 1e6:.2f} MB, "
          f"{sum(t.count(chr(10)) for t in files)} lines; the fast parser takes {len(accepted)}")
    print(f"{'row':<12} {'files':>6} {'MB':>7} {'s':>8} {'MB/s':>7} {'klines/s':>9}")
    for name, (fs, secs) in rows.items():
        mb = sum(map(len, fs)) / 1e6
        lines = sum(t.count("\n") for t in fs)
        print(f"{name:<12} {len(fs):>6} {mb:>7.2f} {secs:>8.3f} {mb / secs:>7.2f} {lines / secs / 1e3:>9.1f}")
        result["rows"][name] = {"files": len(fs), "mb": mb, "lines": lines, "seconds": secs}  # type: ignore[index]
    out = args.out or ROOT / "bench" / "results" / f"parse-{dt.date.today()}{'-smoke' if args.smoke else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
