"""The adaptive batcher on a runner that records its calls: requests run together, each
gets its own rows back, a refused request fails alone, fixed-batch models never batch."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from mlform.providers.server.runners import InferenceInputError, TensorSpec
from mlform.providers.server.batching import Batcher, batchable
from mlform.providers.server.config import BatchingSpec, VersionSpec
from mlform.providers.server.infer import execute
from mlform.providers.server.router import ModelVersion
from mlform.providers.server.stats import RequestLog


class Doubler:
    """y = 2x, z = x + 1; refuses any negative value, as a runtime refuses bad input."""

    platform = "test"
    device = "cpu"

    def __init__(self, first_dim: int = -1) -> None:
        self.inputs = (TensorSpec("x", "FP32", (first_dim, 2)),)
        self.outputs = (TensorSpec("y", "FP32", (first_dim, 2)),
                        TensorSpec("z", "FP32", (first_dim, 2)))
        self.calls: list[int] = []  # rows of each call

    def run(self, feed: dict[str, np.ndarray], output_names: Any = None) -> dict[str, np.ndarray]:
        x = feed["x"]
        self.calls.append(len(x))
        if (x < 0).any():
            raise InferenceInputError("negative values are refused")
        out = {"y": x * 2, "z": x + 1}
        return {n: out[n] for n in (output_names or out)}


def _version(runner: Doubler) -> ModelVersion:
    return ModelVersion("v1", VersionSpec("v1", "-"), runner, "sha256:0", RequestLog(64), 0.0)


def _requests(sizes: list[int]) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.uniform(0, 1, (n, 2)).astype(np.float32) for n in sizes]


async def _gather(version: ModelVersion, xs: list[np.ndarray], spec: BatchingSpec,
                  outputs: list[list[str] | None] | None = None) -> list[Any]:
    outputs = outputs or [None] * len(xs)
    return await asyncio.gather(*(execute(version, {"x": x}, o, spec)
                                  for x, o in zip(xs, outputs)), return_exceptions=True)


def test_concurrent_requests_share_runs_and_get_their_own_rows():
    runner = Doubler()
    version = _version(runner)
    xs = _requests([1, 2, 3, 1, 1, 2, 3, 1, 2, 1])
    spec = BatchingSpec(max_batch_size=8, max_delay_ms=50)
    results = asyncio.run(_gather(version, xs, spec))
    for x, r in zip(xs, results):  # the same as each request run alone
        np.testing.assert_array_equal(r["y"], x * 2)
        np.testing.assert_array_equal(r["z"], x + 1)
    assert sum(runner.calls) == sum(len(x) for x in xs)
    assert len(runner.calls) < len(xs) and max(runner.calls) <= 8
    assert version.runs == len(runner.calls)
    assert version.metrics.batch_runs >= 1 and version.metrics.batch_sum > version.metrics.batch_runs


def test_each_request_gets_the_outputs_it_asked_for():
    version = _version(Doubler())
    xs = _requests([1, 1, 1])
    results = asyncio.run(_gather(version, xs, BatchingSpec(8, 50), [["z"], None, ["y"]]))
    assert [list(r) for r in results] == [["z"], ["y", "z"], ["y"]]


def test_a_refused_request_fails_alone():
    runner = Doubler()
    version = _version(runner)
    xs = _requests([2, 1, 2])
    xs[1] = -xs[1]
    results = asyncio.run(_gather(version, xs, BatchingSpec(8, 50)))
    assert isinstance(results[1], InferenceInputError)
    np.testing.assert_array_equal(results[0]["y"], xs[0] * 2)
    np.testing.assert_array_equal(results[2]["y"], xs[2] * 2)
    assert runner.calls[0] == 5  # the batch was tried, then each request alone


def test_offloaded_models_batch_on_a_worker_thread():
    runner = Doubler()
    version = _version(runner)
    version.offload = True
    version.ewma_ms = 50.0  # stays offloaded
    xs = _requests([1] * 6)
    results = asyncio.run(_gather(version, xs, BatchingSpec(4, 50)))
    for x, r in zip(xs, results):
        np.testing.assert_array_equal(r["y"], x * 2)
    assert runner.calls[:2] == [4, 2]


def test_fixed_first_dimension_and_oversized_requests_run_alone():
    fixed = Doubler(first_dim=2)
    assert not batchable(fixed)
    version = _version(fixed)
    asyncio.run(_gather(version, _requests([2, 2, 2]), BatchingSpec(8, 50)))
    assert fixed.calls == [2, 2, 2] and version.metrics.batch_runs == 0
    runner = Doubler()
    big = Batcher(_version(runner), BatchingSpec(max_batch_size=4))
    assert big.key({"x": np.zeros((5, 2), np.float32)}) is None
    assert big.key({"x": np.zeros((4, 2), np.float32)}) is not None


def test_requests_of_other_trailing_shapes_are_not_mixed():
    runner = Doubler()
    runner.inputs = (TensorSpec("x", "FP32", (-1, -1)),)
    version = _version(runner)
    xs = [np.ones((1, 2), np.float32), np.ones((1, 3), np.float32), np.ones((1, 2), np.float32)]
    results = asyncio.run(_gather(version, xs, BatchingSpec(8, 50)))
    assert [r["y"].shape for r in results] == [(1, 2), (1, 3), (1, 2)]
    assert sorted(runner.calls) == [1, 2]


@pytest.mark.parametrize("delay", [0.0, 1.0])
def test_a_lone_request_is_answered_after_the_delay(delay):
    runner = Doubler()
    results = asyncio.run(_gather(_version(runner), _requests([3]), BatchingSpec(8, delay)))
    assert results[0]["y"].shape == (3, 2) and runner.calls == [3]
