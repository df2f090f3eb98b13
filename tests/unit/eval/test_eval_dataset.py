"""Dataset reading: every bad line reported with its line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlform.engine.diagnostics import DiagnosticsError
from mlform.engine.eval import DatasetRules, dataset_digest, load_dataset, parse_dataset


def problems(text: str, rules: DatasetRules = DatasetRules()) -> list[tuple[int, int, str, str]]:
    with pytest.raises(DiagnosticsError) as e:
        parse_dataset(text.encode(), "golden.jsonl", rules)
    return [(d.range.start.line, d.range.start.col, d.summary, d.detail)
            for d in e.value.diagnostics if d.range is not None]


def test_reads_tensor_records_and_digests(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"input": [1, 2.5], "expected": 1}\n\n{"input": [3, 4], "expected": 0, "id": "x"}\n')
    ds = load_dataset(path, DatasetRules(expect_class=True))
    assert [r.line for r in ds.records] == [1, 3]
    assert ds.records[0].input.dtype == np.float64  # type: ignore[union-attr]
    assert ds.records[1].expected_class == 0
    assert ds.digest == dataset_digest(path) and ds.digest.startswith("sha256:")
    path.write_bytes(path.read_bytes() + b"\n")
    assert dataset_digest(path) != ds.digest


def test_named_inputs_and_labels() -> None:
    ds = parse_dataset(b'{"input": {"ids": [[1, 2]], "mask": [[1, 1]]}, "expected": "neg"}\n'
                       b'{"input": {"mask": [[1, 0]], "ids": [[3, 0]]}, "expected": "pos"}\n', "d.jsonl",
                       DatasetRules(expect_class=True, labels=("neg", "pos")))
    assert [r.expected_class for r in ds.records] == [0, 1]
    assert set(ds.records[0].input) == {"ids", "mask"}  # type: ignore[arg-type]


def test_collects_every_problem_with_positions() -> None:
    text = "\n".join([
        '{"input": [1, 2], "expected": 0}',
        '{"input": [1, 2], "expected": 0',            # 2: bad JSON
        '{"inputs": [1, 2], "expected": 0}',           # 3: missing input (typo)
        '{"expected": 0, "input": [[1, 2], [3]]}',     # 4: ragged
        '{"input": [1, "a"], "expected": 0}',          # 5: mixed types in a tensor
        '{"input": {"x": [1, 2]}, "expected": 0}',     # 6: object here, list on line 1
        '{"input": [1, 2]}',                           # 7: no expected, metrics need it
        '[1, 2]',                                      # 8: not an object
        '{"input": [1, 2], "expected": -1}',           # 9: not a class
    ])
    found = problems(text, DatasetRules(expect_class=True))
    by_line = {line: (col, summary, detail) for line, col, summary, detail in found}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert by_line[2][1].startswith("Invalid JSON") and by_line[2][0] == 32
    assert by_line[3][1].startswith('Record has no "input"') and 'has "inputs"; rename it' in by_line[3][2]
    assert by_line[4][1].startswith("Ragged shape") and by_line[4][0] == 17
    assert "input[1] has shape [1] but input[0] has shape [2]" in by_line[4][2]
    assert by_line[5][1].startswith("Inconsistent types")
    assert "an object here but a list on line 1" in by_line[6][2]
    assert by_line[7][1].startswith('Record has no "expected"')
    assert by_line[8][1].startswith("Record is not a JSON object")
    assert "class index" in by_line[9][2]


def test_error_summaries_name_the_line_and_the_fix() -> None:
    with pytest.raises(DiagnosticsError, match=r"Invalid JSON \(line 1\)") as e:
        parse_dataset(b"{nope}\n", "d.jsonl")
    assert "Each line must be one JSON object" in e.value.diagnostics.errors[0].detail
    assert str(e.value.diagnostics.errors[0].range) == "d.jsonl:1:2"


def test_labels_unknown_and_inconsistent_expected() -> None:
    found = problems('{"input": [1], "expected": "pos"}\n{"input": [1], "expected": "postive"}\n'
                     '{"input": [1], "expected": 1}\n', DatasetRules(expect_class=True, labels=("neg", "pos")))
    assert found[0][0] == 2 and found[0][2].startswith('Unknown label "postive"')
    assert 'Did you mean "positive"' not in found[0][3] and 'Did you mean "pos"' in found[0][3]
    assert found[1][0] == 3 and "a number here but a string on line 1" in found[1][3]
    found = problems('{"input": [1], "expected": "pos"}\n', DatasetRules(expect_class=True))
    assert "declares no labels" in found[0][2]


def test_regression_expected_shapes() -> None:
    found = problems('{"input": [1], "expected": [1.0, 2.0]}\n{"input": [2], "expected": [1.0]}\n'
                     '{"input": [2], "expected": "x"}\n', DatasetRules(expect_number=True))
    assert [f[0] for f in found] == [2, 3]
    assert "[1] here but [2] on line 1" in found[0][3]
    assert found[1][2].startswith("Expected value is not numeric")


def test_rank_must_agree_but_lengths_may_differ() -> None:
    ds = parse_dataset(b'{"input": [1, 2, 3]}\n{"input": [1]}\n', "d.jsonl")
    assert [r.input.shape for r in ds.records] == [(3,), (1,)]  # type: ignore[union-attr]
    found = problems('{"input": [1, 2]}\n{"input": [[1, 2]]}\n')
    assert found[0][0] == 2 and "2-d of numbers here but 1-d of numbers on line 1" in found[0][3]


def test_text_inputs_against_prompt_variables() -> None:
    rules = DatasetRules(text=True, prompt_variables=("text", "max_words"))
    ds = parse_dataset(b'{"input": {"text": "hi", "max_words": 5}}\n', "d.jsonl", rules)
    assert ds.records[0].input == {"text": "hi", "max_words": 5}
    found = problems('{"input": {"txt": "hi", "max_words": 5}}\n{"input": "hi"}\n'
                     '{"input": {"text": ["a"], "max_words": 1}}\n', rules)
    assert "missing prompt variable(s): text" in found[0][3] and 'Did you mean "text"' in found[0][3]
    assert found[1][2].startswith("Input must be an object of prompt variables")
    assert found[2][2].startswith("Invalid prompt variable")
    one = DatasetRules(text=True, prompt_variables=("question",))
    assert parse_dataset(b'{"input": "why?"}\n', "d.jsonl", one).records[0].input == "why?"
    no_prompt = DatasetRules(text=True)
    assert problems('{"input": {"a": "b"}}\n', no_prompt)[0][2] == "Input must be a string (line 1)"
    assert problems('{"input": "x", "expected": 3}\n', DatasetRules(text=True, expect_text=True))[0][2] \
        .startswith("Expected value is not text")


def test_empty_missing_and_capped() -> None:
    with pytest.raises(DiagnosticsError, match="has no records"):
        parse_dataset(b"\n\n", "d.jsonl")
    with pytest.raises(DiagnosticsError, match="Cannot read dataset"):
        load_dataset("/nonexistent/golden.jsonl")
    with pytest.raises(DiagnosticsError) as e:
        parse_dataset(b"x\n" * 80, "d.jsonl")
    assert len(e.value.diagnostics) == 51
    assert list(e.value.diagnostics)[-1].summary == "... and 30 more problems in d.jsonl"


def test_bad_utf8_and_bom() -> None:
    assert len(parse_dataset(b'\xef\xbb\xbf{"input": [1]}\n', "d.jsonl").records) == 1
    with pytest.raises(DiagnosticsError, match=r"Line is not UTF-8 \(line 2\)"):
        parse_dataset(b'{"input": [1]}\n{"input": "\xff"}\n', "d.jsonl")
