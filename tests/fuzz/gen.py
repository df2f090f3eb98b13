"""Structure-aware generation and mutation of mlform inputs.

A case is a project (``*.mlf.hcl`` / ``*.mlf.json`` files and data files), var
files, ``--var`` strings and ``MLF_VAR_*`` values, and what to do with a saved
plan. Every choice comes from one :class:`random.Random`, so a case is
reproduced by its seed and number (``python -m tests.fuzz.run --seed S --case N``).

Half the cases are generated from the language (blocks from the schema, with
typos; expressions of every kind; hostile literals), half are mutations of the
repository's own configurations (the quickstart, the broken-config corpus, the
HCL conformance corpus) at the token level: deletions, duplications, swaps,
splices of hostile text. Hostile text is what has broken parsers before: deep
nesting, long operator chains, bad escapes, huge numbers, NUL bytes, paths that
are directories or do not exist.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

BLOCK_ATTRS: dict[str, list[str]] = {
    "model": ["source", "format", "version", "metadata", "provider", "count", "for_each", "depends_on"],
    "endpoint": ["provider", "model", "instance_type", "replicas", "count", "for_each", "depends_on"],
    "eval_suite": ["target", "dataset", "depends_on"],
    "prompt": ["template", "variables", "model_params"],
    "policy": ["enforcement", "applies_to", "condition", "message"],
    "variable": ["type", "default", "description", "sensitive", "nullable"],
    "output": ["value", "sensitive", "description"],
    "provider": ["gpus", "host", "region"],
}
NESTED: dict[str, list[str]] = {
    "endpoint": ["constraints", "autoscaling", "rollout", "lifecycle"],
    "rollout": ["rollback_when"],
    "eval_suite": ["metric", "assert"],
    "variable": ["validation"],
}
NESTED_ATTRS: dict[str, list[str]] = {
    "constraints": ["p99_latency_ms", "min_throughput_rps", "max_cost_per_million", "accelerators"],
    "autoscaling": ["min_replicas", "max_replicas", "target_rps_per_replica"],
    "rollout": ["strategy", "steps", "bake_seconds", "gates"],
    "rollback_when": ["error_rate", "p99_latency_ms"],
    "lifecycle": ["prevent_destroy", "create_before_destroy", "ignore_changes"],
    "metric": ["min", "max"],
    "assert": ["type", "value", "threshold"],
    "validation": ["condition", "error_message"],
}
ENUMS = ["canary", "linear", "blue_green", "all_at_once", "canery", "onnx", "torchscript", "sklearn", "hf",
         "advisory", "soft_mandatory", "hard_mandatory", "hard-mandatory", "endpoint", "model", "nvidia-t4",
         "nvidia-a100", "none", "auto", "contains", "regex", "json_schema"]
FUNCS = ["file", "filesha256", "templatefile", "jsonencode", "jsondecode", "yamldecode", "format", "join",
         "split", "lower", "upper", "replace", "merge", "concat", "length", "lookup", "keys", "values",
         "contains", "coalesce", "try", "min", "max", "abs", "ceil", "floor", "tostring", "tonumber", "tolist",
         "toset", "tomap", "regex", "substr", "element", "range", "flatten", "base64decode", "can", "sum",
         "pow", "parseint", "formatlist", "csvdecode", "fileexists", "abspath", "dirname", "pathexpand"]
# What has broken parsers and evaluators before; spliced into text or used as values.
HOSTILE = [
    '"\\uZZZZ"', '"\\U7FFFFFFF"', '"\\U99999999999999999999"', '"\\x41"', '"\\', '"\\u12"', '"${"', '"%{"',
    '"\\u0000"', '"a\\u0000b"', '"$${x}"', '"%%{x}"', "9" * 5000, "1" + "0" * 4400 + ".5", "1e999999", "-1e400",
    "0x10", "1.", ".5", "1e", '"\U0001F600"', '"\x00"', "\x00", "\ufeff", "\r\n", "\t", "\u2028",
    "<<EOT\n${x}\nEOT\n", "<<-EOT\n  %{ if true }a%{ endif }\n  EOT\n", '"${[for x in [1]: x]}"',
    '"%{ for k, v in {a=1} }${k}%{ endfor }"', "[for x in [1,2]: x if x > 1]", "{for k, v in {a=1}: k => v...}",
    "var.x[*].y", "each.key", "count.index", "self.x", "null", "true ? 1 : \"a\"", "!!!!true", "-(-(-1))",
    "1 / 0", "1 % 0", "-9" * 3, "[1,2,3][9999999999999999999999]", "{a=1}[\"b\"]", "local.x.y.z",
    '"/"', '"."', '"./"', '"nonexistent/dir/x"', '"a\\u0000"', '"' + "a" * 5000 + '"',
    'file("a\\u0000b")', 'file("sub")', 'templatefile("a\\u0000b", {})', 'templatefile("p.txt", {x = 1})',
    'filesha256("sub")', 'jsondecode("' + "[" * 3000 + "]" * 3000 + '")', 'yamldecode("' + "[" * 3000 + '")',
    'jsondecode("' + "9" * 5000 + '")', 'tonumber("' + "9" * 5000 + '")', 'format("%' + "9" * 30 + 'd", 1)',
    'range(1e18)', 'regex("(", "a")', 'substr("abc", 1e30, 1)', 'element([], 0)', 'pow(10, 1e9)',
]
KEYS = ["a", "b", "owner", '"k"']
PATHS = ["", ".", "/", "missing", "missing/x.plan", "sub", "sub/", "a\x00b", "nul\x00/x", "x" * 300,
         "main.mlf.hcl", "../", "data", "data/", "/proc/self/nope", "plan.out"]


def nest(rng: random.Random) -> str:
    """Deep nesting of one kind: brackets, objects, calls, parentheses, templates, chains."""
    n = rng.choice([40, 90, 130, 300, 800, 3000])
    kind = rng.randrange(10)
    if kind == 0:
        return "[" * n + "1" + "]" * n
    if kind == 1:
        return "{a=" * n + "1" + "}" * n
    if kind == 2:
        return "(" * n + "1" + ")" * n
    if kind == 3:
        return "length(" * n + "[]" + ")" * n
    if kind == 4:
        return " + ".join(["1"] * n)
    if kind == 5:
        return "-" * n + "1"
    if kind == 6:
        return '"' + "${" * n + "1" + "}" * n + '"'
    if kind == 7:
        return "true ? " * n + "1" + " : 2" * n
    if kind == 8:
        return "x" + "[0]" * n
    return "local.a" + ".b" * n


@dataclass
class Case:
    """One fuzz case: files to write (relative path -> text or None for a directory)."""

    seed: str
    files: dict[str, str | None] = field(default_factory=dict)
    var_files: list[str] = field(default_factory=list)
    vars: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    plan_out: str | None = None      # --out (relative path)
    plan_mutations: int = 0          # mutate the saved plan this many times, re-sealed
    cli: bool = False                # also run the CLI in-process (flags and paths)


class Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    # --- expressions ----------------------------------------------------------
    def literal(self) -> str:
        r = self.r
        k = r.randrange(9)
        if k == 0:
            return str(r.choice([0, 1, -1, 10, 3.5, 1e300, 2 ** 70]))
        if k == 1:
            return json.dumps(r.choice(ENUMS))
        if k == 2:
            return r.choice(["true", "false", "null"])
        if k == 3:
            return r.choice(HOSTILE)
        if k == 4:
            return json.dumps(r.choice(["models/sentiment-v1.onnx", "./m.onnx", "data/golden.jsonl", "s3://b/k",
                                        "", "p.txt", "data"]))
        if k == 5:
            return '"' + r.choice(["${var.x}", "${local.a}", "%{if true}y%{endif}", "a${1+1}b", "${"]) + '"'
        if k == 6:
            return r.choice(["var.x", "local.a", "model.m", "model.m.digest", "endpoint.e.url", "var.y",
                             "eval_suite.s", "provider.local", "each.value", "count.index", "path.module"])
        if k == 7:
            return str(r.randrange(-5, 200))
        return json.dumps("".join(r.choice("ab\\\"${}%\n\t\x00é") for _ in range(r.randrange(6))))

    def expr(self, depth: int = 0) -> str:
        r = self.r
        if depth > 4 or r.random() < 0.35:
            return self.literal()
        k = r.randrange(12)
        if k == 0:
            return "[" + ", ".join(self.expr(depth + 1) for _ in range(r.randrange(4))) + "]"
        if k == 1:
            return "{" + ", ".join(f"{r.choice(KEYS)} = {self.expr(depth + 1)}"
                                   for _ in range(r.randrange(4))) + "}"
        if k == 2:
            return f"{self.expr(depth + 1)} {r.choice(['+', '-', '*', '/', '%', '==', '!=', '<', '>=', '&&', '||'])} " \
                   f"{self.expr(depth + 1)}"
        if k == 3:
            return f"{r.choice(FUNCS)}({', '.join(self.expr(depth + 1) for _ in range(r.randrange(4)))})"
        if k == 4:
            return f"{self.expr(depth + 1)} ? {self.expr(depth + 1)} : {self.expr(depth + 1)}"
        if k == 5:
            return f"[for x in {self.expr(depth + 1)} : {self.expr(depth + 1)}]"
        if k == 6:
            return f"{{for k, v in {self.expr(depth + 1)} : k => {self.expr(depth + 1)}}}"
        if k == 7:
            return f"{self.expr(depth + 1)}[{self.expr(depth + 1)}]"
        if k == 8:
            return f"({self.expr(depth + 1)})"
        if k == 9:
            return nest(r)
        if k == 10:
            return f"{r.choice(['-', '!'])}{self.expr(depth + 1)}"
        return f'"${{{self.expr(depth + 1)}}}"'

    # --- blocks ---------------------------------------------------------------
    def name(self) -> str:
        return self.r.choice(["m", "e", "s", "x", "y", "a", "sentiment", "golden", "local", "testing", "1bad", "é"])

    def attr(self, names: list[str], indent: str) -> str:
        n = self.r.choice(names)
        if self.r.random() < 0.1:
            n = n[:-1] + self.r.choice("xyz")  # a typo
        return f"{indent}{n} = {self.expr()}\n"

    def block(self, kind: str | None = None, indent: str = "") -> str:
        r = self.r
        kind = kind or r.choice(list(BLOCK_ATTRS) + ["locals", "mlform", "bogus"])
        if kind == "locals":
            return "locals {\n" + "".join(f"  {r.choice(['a', 'b', 'x'])} = {self.expr()}\n"
                                          for _ in range(r.randrange(1, 4))) + "}\n"
        if kind == "mlform":
            return ('mlform {\n  required_version = ' + self.literal() + '\n  backend "' +
                    r.choice(["local", "s3", "nope"]) + '" { path = ' + self.literal() + " }\n}\n")
        labels = "" if kind in ("locals",) else f' "{self.name()}"'
        if kind in ("model", "endpoint", "eval_suite", "prompt") and r.random() < 0.9:
            pass
        body = "".join(self.attr(BLOCK_ATTRS.get(kind, ["x"]), indent + "  ") for _ in range(r.randrange(1, 5)))
        for sub in NESTED.get(kind, []):
            if r.random() < 0.4:
                body += self.nested(sub, indent + "  ")
        return f"{indent}{kind}{labels} {{\n{body}{indent}}}\n"

    def nested(self, kind: str, indent: str) -> str:
        r = self.r
        label = f' "{r.choice(["accuracy", "f1", "p95_latency_ms", "bogus"])}"' if kind in ("metric", "assert") else ""
        body = "".join(self.attr(NESTED_ATTRS[kind], indent + "  ") for _ in range(r.randrange(1, 4)))
        for sub in NESTED.get(kind, []):
            if r.random() < 0.5:
                body += self.nested(sub, indent + "  ")
        return f"{indent}{kind}{label} {{\n{body}{indent}}}\n"

    def config(self) -> str:
        r = self.r
        parts = ['provider "testing" {}\n'] if r.random() < 0.7 else []
        parts += ['variable "x" {\n  default = "v"\n}\n'] if r.random() < 0.5 else []
        parts += [self.block() for _ in range(r.randrange(1, 6))]
        return "\n".join(parts)

    # --- mutation -------------------------------------------------------------
    def mutate_text(self, text: str) -> str:
        r = self.r
        toks = re.findall(r'"(?:[^"\\\n]|\\.)*"|\w+|\s+|.', text, re.S) or [""]
        for _ in range(r.randrange(1, 5)):
            i = r.randrange(len(toks))
            k = r.randrange(7)
            if k == 0:
                del toks[i]
            elif k == 1:
                toks.insert(i, toks[r.randrange(len(toks))])
            elif k == 2:
                toks[i] = r.choice(HOSTILE)
            elif k == 3:
                toks.insert(i, nest(r))
            elif k == 4:
                toks[i] = self.expr()
            elif k == 5:
                j = r.randrange(len(toks))
                toks[i], toks[j] = toks[j], toks[i]
            else:
                toks.insert(i, r.choice(["{", "}", "[", "]", "(", ")", "=", ",", "\n", "${", "%{", "<<EOT\n", "#", "/*"]))
            if not toks:
                toks = [""]
        return "".join(toks)

    def to_json(self, text: str) -> str:
        """A ``*.mlf.json`` document: generated structure, sometimes mutated as text."""
        r = self.r
        doc: dict[str, Any] = {}
        for _ in range(r.randrange(1, 4)):
            kind = r.choice(["model", "endpoint", "variable", "locals", "output", "policy"])
            attrs = {a: self.json_value() for a in r.sample(BLOCK_ATTRS.get(kind, ["a", "b"]), 2)}
            doc[kind] = attrs if kind == "locals" else {self.name(): attrs}
        out = json.dumps(doc)
        if r.random() < 0.3:
            out = self.mutate_text(out)
        if r.random() < 0.1:
            out = out.replace("{}", "[" * 900 + "]" * 900, 1) if "{}" in out else '{"locals": {"a": ' + \
                "[" * 900 + "]" * 900 + "}}"
        return out

    def json_value(self, depth: int = 0) -> Any:
        r = self.r
        k = r.randrange(8 if depth < 3 else 5)
        if k == 0:
            return r.choice([1, -2.5, 10 ** 30, 1e308, True, None])
        if k == 1:
            return r.choice(ENUMS)
        if k == 2:
            return "${" + r.choice(["var.x", "1 +", "local.a", "[" * 300 + "]" * 300, "\x00"]) + "}"
        if k == 3:
            return r.choice(["models/sentiment-v1.onnx", "", "a\x00b", "\\uZZZZ"])
        if k == 4:
            return "x"
        if k == 5:
            return [self.json_value(depth + 1) for _ in range(r.randrange(3))]
        return {r.choice(["a", "b", "owner"]): self.json_value(depth + 1) for _ in range(r.randrange(3))}

    def mutate_json_doc(self, doc: Any) -> Any:
        """Replace, delete or retype one value somewhere in a JSON document (a saved plan)."""
        r = self.r
        path: list[Any] = []
        cur = doc
        while isinstance(cur, (dict, list)) and cur and r.random() < 0.8:
            key = r.choice(list(cur)) if isinstance(cur, dict) else r.randrange(len(cur))
            path.append(key)
            cur = cur[key]
        if not path:
            return r.choice([[], {}, None, "x", 1])
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        k = r.randrange(4)
        if k == 0 and isinstance(parent, dict):
            del parent[last]
        elif k == 1:
            parent[last] = r.choice([None, "", 0, -1, 1e308, [], {}, "x", True, {"a": [1]}, "\x00", "9" * 50])
        elif k == 2:
            parent[last] = self.json_value()
        else:
            parent[last] = [parent[last]] if r.random() < 0.5 else {"v": parent[last]}
        return doc


VALID = """provider "testing" {}

variable "x" {
  default = "v"
}

locals {
  a = %s
}

model "m" {
  provider = provider.testing
  source   = "./m.onnx"
  metadata = { k = %s }
}

endpoint "e" {
  provider = provider.testing
  model    = model.m
  replicas = 1
}

output "o" {
  value = %s
}
"""


def seeds() -> list[str]:
    """The repository's own configurations, mutated as text."""
    out = [(ROOT / "examples" / "quickstart" / "main.mlf.hcl").read_text()]
    for p in sorted((ROOT / "tests" / "corpus" / "broken").glob("*/*.mlf.hcl")):
        out.append(p.read_text())
    for p in sorted((ROOT / "tests" / "corpus" / "hcl").glob("*.hcl")):
        out.append(p.read_text())
    return out


_SEEDS: list[str] | None = None


def make_case(seed: int, number: int, rng: random.Random | None = None) -> Case:
    """Case ``number`` of ``seed`` (or drawn from ``rng``: hypothesis's, which then shrinks it)."""
    global _SEEDS
    if _SEEDS is None:
        _SEEDS = seeds()
    rng = rng or random.Random(f"{seed}:{number}")
    g = Gen(rng)
    case = Case(seed=f"{seed}:{number}")
    mode = rng.random()
    if mode < 0.35:  # a valid project with one hostile or random value: gets to plan and saved plans
        vals = [rng.choice(['"s"', "1", "local.a", "var.x", "[1]"]) for _ in range(3)]
        vals[rng.randrange(3)] = g.expr(depth=2) if rng.random() < 0.6 else rng.choice(HOSTILE)
        text = VALID % tuple(vals)
    elif mode < 0.65:
        text = g.config()
    else:
        text = rng.choice(_SEEDS)
        if rng.random() < 0.3:
            text = text + "\n" + g.block()
    if rng.random() < (0.1 if mode < 0.35 else 0.7):
        text = g.mutate_text(text)
    case.files["main.mlf.hcl"] = text
    if rng.random() < 0.15:
        case.files["extra.mlf.json"] = g.to_json(text)
    case.files["models/sentiment-v1.onnx"] = "onnx"
    case.files["m.onnx"] = "m"
    case.files["p.txt"] = "{{ text }} ${x}"
    case.files["data/golden.jsonl"] = '{"text": "a", "label": 1}\n'
    case.files["sub"] = None
    if rng.random() < 0.25:
        vf = rng.choice(["v.mlfvars.hcl", "x.auto.mlfvars.hcl", "sub", "missing.mlfvars.hcl", "data"])
        if vf.endswith(".hcl"):
            body = f"x = {g.expr()}\n" if rng.random() < 0.6 else g.mutate_text(f"x = {g.expr()}\ny = [1]\n")
            case.files[vf] = body
        if not vf.startswith("x.auto"):
            case.var_files.append(vf)
    if rng.random() < 0.2:
        case.vars.append(rng.choice(["x", "y", "x=", "=1", "x=[1", "x=" + nest(rng), "x=\x00", "x=" + g.expr()]))
    if rng.random() < 0.05:
        case.env["MLF_VAR_x"] = rng.choice([g.expr(), nest(rng), "\\uZZZZ", "9" * 5000])
    if rng.random() < 0.3:
        case.plan_out = rng.choice(PATHS)
    if rng.random() < 0.5:
        case.plan_mutations = rng.randrange(1, 4)
    case.cli = rng.random() < 0.05
    return case


__all__ = ["Case", "Gen", "make_case", "nest", "HOSTILE", "PATHS"]
