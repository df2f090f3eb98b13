"""Each rollout strategy on the local provider, as a user sees it: the traffic split
over time (read from the router's admin API), the steps in state history, the
version served at the end, and no failed request under continuous load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.rollout_support import (
    Load, TrafficWatch, copy_quickstart, digest_of, endpoint, info, mlform, set_rollout, state, vid,
)

pytestmark = pytest.mark.slow
V2 = "model_file=models/sentiment-v2.onnx"


@pytest.fixture
def quickstart(tmp_path: Path):  # type: ignore[no-untyped-def]
    proj = copy_quickstart(tmp_path)
    yield proj
    mlform(proj, "destroy", "--auto-approve")  # refused when a test left the config invalid:
    # tests/fixtures/servers.py then stops the server


# strategy -> (rollout attributes, the shares the new version must go through, in order)
CASES = {
    "linear": ({"strategy": '"linear"', "steps": "[25, 50, 75, 100]", "bake_seconds": "1"}, [0, 25, 50, 75, 100]),
    "blue_green": ({"strategy": '"blue_green"', "bake_seconds": "2"}, [0, 100]),
    "all_at_once": ({"strategy": '"all_at_once"', "bake_seconds": "30"}, [0, 100]),
}


@pytest.mark.parametrize("strategy", sorted(CASES))
def test_strategy_moves_traffic_as_documented(quickstart: Path, strategy: str) -> None:
    attrs, shares = CASES[strategy]
    set_rollout(quickstart, **attrs)
    r = mlform(quickstart, "apply", "--auto-approve")
    assert r.returncode == 0, r.stdout + r.stderr
    url = mlform(quickstart, "output", "--raw", "infer_url").stdout
    old, new = vid(digest_of("sentiment-v1")), vid(digest_of("sentiment-v2"))

    r = mlform(quickstart, "plan", "--var", V2)
    steps = " -> ".join(f"{s}%" for s in shares[1:])
    assert f"# rollout: {strategy} {steps}" in r.stdout, r.stdout

    with Load(url) as load, TrafficWatch(quickstart) as watch:
        r = mlform(quickstart, "apply", "--auto-approve", "--var", V2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert load.errors == [] and load.sent > 50
    assert load.served.get(new, 0) > 0
    assert watch.percents_of(new) == shares, watch.samples

    rollout = state(quickstart)["history"][-1]["rollouts"][0]
    assert rollout["strategy"] == strategy and rollout["outcome"] == "completed"
    assert [s["percent"] for s in rollout["steps"] if "percent" in s] == shares[1:]
    assert [s["gate"] for s in rollout["steps"] if "gate" in s] == ["eval_suite.golden"]
    baked = [s for s in rollout["steps"] if "percent" in s and "requests" in s]
    # all_at_once does not wait (its bake_seconds of 30 would show in the run time), the others bake every step.
    assert len(baked) == (0 if strategy == "all_at_once" else len(shares) - 1)
    assert all(s["judged"] for s in baked), baked  # the load reached every bake
    assert "not judged on live traffic" not in r.stdout + r.stderr
    assert endpoint(quickstart)["attributes"]["active_model_digest"] == digest_of("sentiment-v2")
    served = info(quickstart)
    assert [v["id"] for v in served["versions"]] == [new] and old not in served["weights"]
    assert "100% of traffic on " + new in r.stdout


def test_unknown_strategy_is_refused_by_validate(quickstart: Path) -> None:
    # an enumerated attribute (issue 20): refused before anything is created, not at the first update
    set_rollout(quickstart, strategy='"gradual"')
    for args in (["validate"], ["apply", "--auto-approve"]):
        r = mlform(quickstart, *args)
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'Error: Invalid value for "strategy"' in r.stderr
        assert '"gradual" is not a strategy mlform knows. Use one of: "all_at_once", "blue_green", "canary", ' \
            '"linear".' in r.stderr
        assert "main.mlf.hcl:" in r.stderr and "Traceback" not in r.stderr
    assert not (quickstart / ".mlform" / "servers").exists()  # nothing was started


def test_linear_steps_must_be_equal(quickstart: Path) -> None:
    set_rollout(quickstart, strategy='"linear"', steps="[10, 50, 100]")
    assert mlform(quickstart, "apply", "--auto-approve").returncode == 0
    r = mlform(quickstart, "plan", "--var", V2)
    assert r.returncode == 1
    assert "linear steps must be equally spaced" in r.stderr
