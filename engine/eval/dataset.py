"""JSONL datasets: read, validate every line, digest.

One JSON object per line: ``{"input": ..., "expected": ...}``. Blank lines are
skipped; other top-level keys (``id``, ``meta``) are allowed and ignored.

``input`` is, for a model, a number / list / nested list fed to its single
input (one example, without the batch dimension), or an object keyed by input
name; for a text suite, a string or an object of prompt variables.

Every line is checked and every problem is reported, each with the line and
column of the bad record, before anything runs.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import numpy.typing as npt

from ..diagnostics import Diagnostic, DiagnosticsError, Pos, SourceRange, did_you_mean, error
from .prompt import JsonScalar, PromptError, PromptSpec, bind_variables

MAX_DIAGNOSTICS = 50

TensorValue = npt.NDArray[Any]
#: A record's input: one array, arrays by input name, a string, or prompt variables.
InputValue = TensorValue | Mapping[str, TensorValue] | str | Mapping[str, JsonScalar]


@dataclass(frozen=True, slots=True)
class DatasetRules:
    """What records must look like; derived from the suite (``SuiteSpec.dataset_rules``)."""

    text: bool = False
    prompt_variables: tuple[str, ...] | None = None
    expect_class: bool = False
    expect_number: bool = False
    expect_text: bool = False
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One validated line. ``expected_class`` / ``expected_number`` are filled
    when the suite's metrics need them (labels already mapped to indexes)."""

    line: int
    input: InputValue
    expected: Any = None
    expected_class: int | None = None
    expected_number: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True, slots=True)
class Dataset:
    """A validated dataset and the sha256 of its bytes (``sha256:<hex>``)."""

    path: str
    digest: str
    records: tuple[Record, ...]

    def __len__(self) -> int:
        return len(self.records)


def digest_bytes(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dataset_digest(path: str | Path) -> str:
    """The digest of the file at ``path`` (what :func:`load_dataset` records)."""
    return digest_bytes(Path(path).read_bytes())


def load_dataset(path: str | Path, rules: DatasetRules = DatasetRules()) -> Dataset:
    """Read and validate ``path``; raises ``DiagnosticsError`` with every problem."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise DiagnosticsError(error(f"Cannot read dataset {p}", f"{e.strerror or e}. Check the dataset path."))
    return parse_dataset(data, str(p), rules)


class _Bad(Exception):
    def __init__(self, summary: str, detail: str, key: str = "input") -> None:
        super().__init__(summary)
        self.summary, self.detail, self.key = summary, detail, key


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    return "a list" if isinstance(v, list) else "an object"


def _shape(s: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def _tensor(value: Any, what: str, key: str) -> tuple[tuple[int, ...], str]:
    """Shape and element kind (number/boolean/string) of a nested list."""
    if isinstance(value, bool):
        return (), "boolean"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise _Bad("Non-finite number", f"{what} is {value}; use a finite number.", key)
        return (), "number"
    if isinstance(value, str):
        return (), "string"
    if isinstance(value, list):
        if not value:
            raise _Bad("Empty list", f"{what} is an empty list; give at least one value.", key)
        parts = [_tensor(v, f"{what}[{i}]", key) for i, v in enumerate(value)]
        s0, k0 = parts[0]
        for i, (s, k) in enumerate(parts[1:], 1):
            if s != s0:
                raise _Bad("Ragged shape", f"{what}[{i}] has shape {_shape(s)} but {what}[0] has shape "
                           f"{_shape(s0)}; every row of a tensor must have the same length.", key)
            if k != k0:
                raise _Bad("Inconsistent types", f"{what}[{i}] holds {k}s but {what}[0] holds {k0}s; "
                           "a tensor holds one type.", key)
        return (len(value), *s0), k0
    raise _Bad("Invalid tensor value", f"{what} is {_json_type(value)}; a tensor holds numbers, "
               "booleans or strings in (nested) lists.", key)


def _array(value: Any, kind: str) -> TensorValue:
    if kind == "string":
        return np.asarray(value, dtype=object)
    return np.asarray(value)


class _Checker:
    """Validates records one by one and remembers what earlier ones looked like."""

    def __init__(self, rules: DatasetRules) -> None:
        self.rules = rules
        self.seen: dict[str, tuple[str, int]] = {}

    def same(self, facet: str, desc: str, line: int, summary: str, key: str) -> None:
        first = self.seen.setdefault(facet, (desc, line))
        if first[0] != desc:
            raise _Bad(summary, f"{facet} is {desc} here but {first[0]} on line {first[1]}; "
                       "all records must agree.", key)

    def record(self, obj: Any, line: int) -> Record:
        if not isinstance(obj, dict):
            raise _Bad("Record is not a JSON object", f"The line holds {_json_type(obj)}; write "
                       '{"input": ..., "expected": ...}.', "")
        if "input" not in obj:
            close = difflib.get_close_matches("input", list(obj), n=1, cutoff=0.6)
            hint = f' The record has "{close[0]}"; rename it to "input".' if close else ""
            raise _Bad('Record has no "input"', "Add \"input\": the model's input (a list of numbers or an "
                       "object keyed by input name), or the prompt text/variables." + hint, "")
        value = self.text_input(obj["input"], line) if self.rules.text else self.tensor_input(obj["input"], line)
        return self.expected(obj, line, value)

    def tensor_input(self, raw: Any, line: int) -> InputValue:
        if isinstance(raw, dict):
            self.same("input", "an object", line, "Inconsistent input types", "input")
            self.same("the set of input names", ", ".join(sorted(raw)), line, "Inconsistent input names", "input")
            if not raw:
                raise _Bad("Empty input object", "Give one entry per model input name.")
            out: dict[str, TensorValue] = {}
            for name, v in raw.items():
                shape, kind = _tensor(v, f"input.{name}", "input")
                self.same(f"input.{name}", f"{len(shape)}-d of {kind}s", line, "Inconsistent input types",
                          "input")
                out[name] = _array(v, kind)
            return out
        shape, kind = _tensor(raw, "input", "input")
        self.same("input", _json_type(raw), line, "Inconsistent input types", "input")
        self.same("the input tensor", f"{len(shape)}-d of {kind}s", line, "Inconsistent input types", "input")
        return _array(raw, kind)

    def text_input(self, raw: Any, line: int) -> InputValue:
        names = self.rules.prompt_variables
        if isinstance(raw, str):
            if names is not None and len(names) != 1:
                raise _Bad("Input must be an object of prompt variables",
                           f"The prompt has variables {', '.join(names) or '(none)'}; write "
                           '"input": {' + ", ".join(f'"{n}": "..."' for n in names) + "}.")
            return raw
        if not isinstance(raw, dict):
            raise _Bad("Invalid text input", f"input is {_json_type(raw)}; give a string"
                       + (" or an object of prompt variables." if names is not None else "."))
        if names is None:
            raise _Bad("Input must be a string", "This suite has no prompt to fill variables into; give the text "
                       "to send as a string.")
        for k, v in raw.items():
            if isinstance(v, (list, dict)):
                raise _Bad("Invalid prompt variable", f'input.{k} is {_json_type(v)}; prompt variables are '
                           "strings, numbers or booleans.")
        try:
            bind_variables(PromptSpec("", names), raw)
        except PromptError as e:
            raise _Bad("Input does not match the prompt's variables", f"{e}.") from None
        return dict(raw)

    def expected(self, obj: dict[str, Any], line: int, value: InputValue) -> Record:
        r = self.rules
        needs = [w for w, on in (("a class", r.expect_class), ("a number", r.expect_number),
                                 ("a reference text", r.expect_text)) if on]
        if obj.get("expected") is None:
            if needs:
                raise _Bad('Record has no "expected"', f"This suite's checks compare with expected; add "
                           f'"expected": {" and ".join(needs)}.', "")
            return Record(line, value)
        exp = obj["expected"]
        cls = self.expected_class(exp) if r.expect_class else None
        num = None
        if r.expect_number:
            shape, kind = _tensor(exp, "expected", "expected")
            if kind != "number":
                raise _Bad("Expected value is not numeric", f"expected holds {kind}s; MAE and RMSE need numbers.",
                           "expected")
            self.same("the shape of expected", _shape(shape), line, "Inconsistent expected shapes", "expected")
            num = np.asarray(exp, dtype=np.float64)
        if r.expect_text and not isinstance(exp, str):
            raise _Bad("Expected value is not text", f"expected is {_json_type(exp)}; the assertions compare "
                       "the output with it as a string.", "expected")
        self.same("expected", _json_type(exp), line, "Inconsistent expected types", "expected")
        return Record(line, value, exp, cls, num)

    def expected_class(self, exp: Any) -> int:
        labels = self.rules.labels
        if isinstance(exp, str):
            if labels is None:
                raise _Bad("Expected value is a label but the suite declares no labels",
                           f'Add labels = ["{exp}", ...] to the suite, or give the class index.', "expected")
            if exp not in labels:
                raise _Bad(f'Unknown label "{exp}"', f"Declared labels: {', '.join(labels)}."
                           + did_you_mean(exp, labels), "expected")
            return labels.index(exp)
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and float(exp).is_integer() and exp >= 0:
            if labels is not None and exp >= len(labels):
                raise _Bad("Class index out of range", f"expected is {exp} but the suite declares "
                           f"{len(labels)} labels (indexes 0-{len(labels) - 1}).", "expected")
            return int(exp)
        raise _Bad("Expected value is not a class", f"expected is {_json_type(exp)} {json.dumps(exp)}; give a "
                   "class index (0, 1, ...)" + (" or one of the labels." if labels else "."), "expected")


def parse_dataset(data: bytes, filename: str, rules: DatasetRules = DatasetRules()) -> Dataset:
    """Validate JSONL ``data`` (read from ``filename``); raises ``DiagnosticsError`` with every problem."""
    checker = _Checker(rules)
    records: list[Record] = []
    diags: list[Diagnostic] = []
    problems = 0

    def report(line: int, col: int, width: int, summary: str, detail: str) -> None:
        nonlocal problems
        problems += 1
        if len(diags) < MAX_DIAGNOSTICS:
            rng = SourceRange(filename, Pos(line, col), Pos(line, max(col, width + 1)))
            diags.append(error(f"{summary} (line {line})", detail, rng))

    for lineno, raw_bytes in enumerate(data.splitlines(), 1):
        try:
            text = raw_bytes.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as e:
            report(lineno, e.start + 1, len(raw_bytes), "Line is not UTF-8", "Save the dataset as UTF-8.")
            continue
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            report(lineno, e.colno, len(text), "Invalid JSON", f"{e.msg} at column {e.colno}. Each line must be "
                   'one JSON object such as {"input": [1.0, 2.0], "expected": 1}.')
            continue
        try:
            records.append(checker.record(obj, lineno))
        except _Bad as b:
            col = text.find(f'"{b.key}"') + 1 if b.key else 1
            report(lineno, max(col, 1), len(text), b.summary, b.detail)
    if problems > len(diags):
        diags.append(error(f"... and {problems - len(diags)} more problems in {filename}",
                           "Fix the ones above and run again to see the rest."))
    if not diags and not records:
        diags.append(error(f"Dataset {filename} has no records",
                           'Add one JSON object per line: {"input": ..., "expected": ...}.',
                           SourceRange(filename, Pos(1, 1), Pos(1, 1))))
    if diags:
        raise DiagnosticsError(diags)
    return Dataset(filename, digest_bytes(data), tuple(records))
