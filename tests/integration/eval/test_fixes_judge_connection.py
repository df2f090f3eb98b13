"""A suite graded by an llm_judge closes the judge's HTTP connection (review item 8).

``mlform eval`` and rollout gates run suites through ``run_config``; each run
opened a connection to the judge endpoint and never closed it (an unclosed
socket per suite, a ResourceWarning under ``-W error::ResourceWarning``).
The judge is the local V2 server serving examples/prompts/models/assistant.pt,
the TorchScript stand-in for an LLM (no weights can be fetched here).
"""

from __future__ import annotations

import gc
import warnings
from pathlib import Path
from typing import Iterator

import pytest

from mlform.engine.rollout.suites import run_config
from mlform.providers.builtin import file_digest
from mlform.providers.local.process import ServerHandle, start_server, stop_server
from mlform.providers.server.config import VersionSpec
from tests.fixtures.evals import write_jsonl

pytest.importorskip("torch")
MODEL = Path(__file__).resolve().parents[3] / "examples" / "prompts" / "models" / "assistant.pt"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    h = start_server("llm", tmp_path_factory.mktemp("srv"),
                     [VersionSpec("v1", str(MODEL), "torchscript", file_digest(MODEL))], gpus="none")
    yield h
    stop_server(h)


def test_running_a_judged_suite_leaves_no_socket_open(server: ServerHandle, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "reviews.jsonl", [{"input": "Review: I love it, great value", "expected": "positive"}])
    endpoint = {"address": "endpoint.llm", "url": server.url, "active_model_digest": "sha256:m"}
    cfg = {"target": endpoint, "dataset": "reviews.jsonl",
           "assert": [{"kind": "llm_judge", "rubric": "The output names the review's sentiment.",
                       "judge": endpoint, "min_pass_rate": 0.0}]}
    gc.collect()  # sockets other tests left behind are not this suite's
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        result, diags = run_config("eval_suite.judged", cfg, tmp_path)
        gc.collect()
    assert result is not None and not diags.has_errors, [(x.summary, x.detail) for x in diags]
    assert result.assertions[0].total == 1  # the judge really was asked
    port = server.url.rsplit(":", 1)[-1].strip("/")
    leaks = [str(w.message) for w in seen if issubclass(w.category, ResourceWarning) and port in str(w.message)]
    assert leaks == []
