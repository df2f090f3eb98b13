"""rollback_when.error_rate during a bake, as a user configures it (issue 22).

A canary whose error rate rises past the limit at a later step is rolled back there: the old
version gets all the traffic again, the new one is removed, and the error names the rate, the
limit and the step. A rate at the limit is not a breach, and a window with fewer requests than
min_requests is not judged at all.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.providers.rollout import ObserveResult
from mlform.providers.testing import TestProvider
from mlform.providers.testing.rollout import served_version
from tests.e2e.test_rollout_protocol import calls, write  # noqa: F401  (calls is a fixture)
from tests.fixtures.project import Project, parse_diagnostics

LIMIT = "    rollback_when {\n      error_rate   = 0.02\n      min_requests = 50\n    }\n"


def _rates(seen: list[tuple[str, Any]], by_percent: dict[int, tuple[int, float]]) -> None:
    """Observations by the step's share of traffic: (requests, error rate)."""
    def observe(req: Any, default: Any) -> ObserveResult:
        weights = [r.weights for name, r in seen if name == "set_weights"]
        pct = weights[-1][req.version_id]
        n, rate = by_percent[pct]
        return ObserveResult(n, round(n * rate), rate, 1.0, 2.0, 3.0)
    TestProvider.hooks["test.observe"] = observe


def _state_endpoint(p: Project) -> dict[str, Any]:
    return next(r for r in p.state()["resources"] if r["address"] == "endpoint.e")["attributes"]  # type: ignore


def _roll(p: Project, seen: list[tuple[str, Any]], by_percent: dict[int, tuple[int, float]]) -> tuple[Any, ...]:
    write(p, "m-v1.onnx", extra=LIMIT)
    assert p.run("apply", "--auto-approve").exit_code == 0
    before = _state_endpoint(p)
    _rates(seen, by_percent)
    write(p, "m-v2.onnx", extra=LIMIT)
    r = p.run("apply", "--auto-approve")
    rec = p.state()["history"][-1]["rollouts"][0]
    return r, before, rec


def test_an_error_rate_breach_at_a_later_step_rolls_back(tmp_project: Project,
                                                         calls: list[tuple[str, Any]]) -> None:  # noqa: F811
    r, before, rec = _roll(tmp_project, calls, {10: (100, 0.0), 50: (100, 0.05), 100: (100, 0.0)})
    assert r.exit_code == 1, r
    (d,) = [x for x in parse_diagnostics(r.stderr) if x.severity == "Error"]
    assert d.summary == "Rollout of endpoint.e was rolled back"
    assert d.detail.startswith("error rate 5.00% exceeded rollback_when.error_rate 2.00% at 50%.")
    names = [n for n, _ in calls]
    assert names[-1] == "abort" and "finish" not in names
    new, old = rec["version"], served_version(before)
    assert (calls[-1][1].keep, calls[-1][1].remove) == (old, new)
    assert [w.weights[new] for n, w in calls if n == "set_weights"] == [10, 50]  # never went to 100%
    assert rec["outcome"] == "rolled_back"
    after = _state_endpoint(tmp_project)
    assert after["traffic"] == {old: 100} and after["model"] == before["model"]


def test_an_error_rate_at_the_limit_or_on_too_few_requests_is_no_breach(
        tmp_project: Project, calls: list[tuple[str, Any]]) -> None:  # noqa: F811
    # 10%: exactly the limit; 50%: 40 requests (< min_requests 50) at 90% errors; 100%: healthy
    r, before, rec = _roll(tmp_project, calls, {10: (100, 0.02), 50: (40, 0.9), 100: (50, 0.0)})
    assert r.exit_code == 0, r
    names = [n for n, _ in calls]
    assert names[-1] == "finish" and "abort" not in names
    assert rec["outcome"] == "completed"
    assert _state_endpoint(tmp_project)["traffic"] == {rec["version"]: 100}
