"""Declared constraints choose the hardware, through the CLI, for a provider that lists a dated
price table (the testing provider, given one through its ``list_hardware`` hook, as a cloud
provider ships one): the plan shows the chosen instance, replicas, batch, estimated p99 and
cost, its basis and the runner-up; plan JSON carries them in ``estimates``; the configuration
the provider sees holds the choice; a constraint nothing meets fails at its line naming the
closest option; what the user sets is respected and checked (docs/constraints.md)."""

from __future__ import annotations

import json
from typing import Any

from mlform.engine.providers.protocol import HardwareOption, ListHardwareResponse, ProfileResponse
from mlform.providers.testing import TestProvider
from tests.fixtures.project import Project, RenderedDiagnostic, parse_diagnostics

AS_OF = "2026-11-01"
TABLE = [HardwareOption("ml.m5.large", "none", 2, 8, 0.115, AS_OF),
         HardwareOption("ml.c5.xlarge", "none", 4, 8, 0.204, AS_OF),
         HardwareOption("ml.g4dn.xlarge", "nvidia-t4", 4, 16, 0.736, AS_OF)]


def _points() -> list[dict[str, Any]]:
    """A model taking 20 ms + 2 ms a row on one thread, 40% less on two (measured here, say)."""
    out = []
    for t, speed in ((1, 1.0), (2, 0.6)):
        for b in (1, 2, 4, 8, 16, 32):
            p50 = (20 + 2 * b) * speed
            out.append({"batch_size": b, "threads": t, "p50_ms": p50, "p99_ms": p50 * 1.3})
    return out


def _hooks(seen: list[dict[str, Any]], measured: bool = False) -> None:
    TestProvider.hooks["list_hardware"] = lambda _req, _d: ListHardwareResponse(list(TABLE))
    if not measured:
        TestProvider.hooks["profile"] = lambda _req, _d: ProfileResponse(points=_points(), cpu="test CPU",
                                                                         overhead_ms=0.5)

    def plan(req: Any, default: Any) -> Any:
        if req.config is not None:
            seen.append(dict(req.config))
        return default(req)
    TestProvider.hooks["plan_change"] = plan


def _project(p: Project, constraints: str, extra: str = "") -> None:
    p.copy_model("m.onnx")
    p.write("main.mlf.hcl", f'''provider "testing" {{}}

model "m" {{
  source = "./m.onnx"
}}

endpoint "e" {{
  provider = provider.testing
  model    = model.m
{extra}
  constraints {{
{constraints}
  }}
}}
''')


def _line(p: Project, needle: str) -> int:
    return next(n for n, line in enumerate(p.read("main.mlf.hcl").splitlines(), 1) if needle in line)


def _errors(out: str) -> list[RenderedDiagnostic]:
    assert "Traceback" not in out and "internal error" not in out, out
    return [d for d in parse_diagnostics(out) if d.severity == "Error"]


def test_plan_shows_the_cheapest_option_its_basis_and_the_runner_up(tmp_project: Project) -> None:
    seen: list[dict[str, Any]] = []
    _hooks(seen)
    _project(tmp_project, "    p99_latency_ms = 16")
    r = tmp_project.run("plan", "-out", "p.plan")
    assert r.exit_code == 0, r
    # ml.m5 would take 22*0.6*1.3 + 0.5 = 17.7 ms; the c5 factor 0.85 brings it to 15.1 ms.
    assert "# estimate: ml.c5.xlarge x1, p99 15.1 ms, $0.20/h" in r.stdout, r.stdout
    assert ("# chosen by constraints: batch 1, 2 thread(s), scaled from this CPU by the ml.c5 factor (0.85), "
            f"prices as of {AS_OF}") in r.stdout, r.stdout
    assert "# runner-up: ml.g4dn.xlarge x1, p99 5.6 ms, $0.74/h" in r.stdout, r.stdout
    assert "Cost: +$148.92/month" in r.stdout, r.stdout  # 0.204 $/h x 730 h
    assert seen and seen[-1]["instance_type"] == "ml.c5.xlarge" and seen[-1]["replicas"] == 1
    j = tmp_project.run("show", "-json", "p.plan")
    assert j.exit_code == 0, j
    est = json.loads(j.stdout)["estimates"]["endpoint.e"]
    assert est["instance_type"] == "ml.c5.xlarge" and est["cost_per_hour"] == 0.204
    assert est["basis"].startswith("scaled from this CPU") and est["runner_up"]["instance_type"] == "ml.g4dn.xlarge"


def test_declared_throughput_chooses_replicas_and_batching(tmp_project: Project) -> None:
    seen: list[dict[str, Any]] = []
    _hooks(seen)
    _project(tmp_project, "    p99_latency_ms = 200\n    min_throughput_rps = 1000")
    r = tmp_project.run("apply", "-auto-approve")
    assert r.exit_code == 0, r
    cfg = seen[-1]
    assert cfg["batch_size"] > 1 and cfg["replicas"] >= 1 and cfg["instance_type"] == "ml.m5.large", cfg
    (res,) = [x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.e"]
    a = res["attributes"]
    assert (a["instance_type"], a["replicas"], a["batch_size"]) == ("ml.m5.large", cfg["replicas"], cfg["batch_size"])
    again = tmp_project.run("plan")
    assert again.exit_code == 0 and "No changes." in again.stdout, again


def test_cost_limit_fails_at_its_line_naming_the_option_it_needs(tmp_project: Project) -> None:
    _hooks([])
    _project(tmp_project, "    p99_latency_ms    = 6\n    max_cost_per_hour = 0.5")
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Cost constraint cannot be met"
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'max_cost_per_hour')}:"), e
    assert "p99 6 ms needs ml.g4dn.xlarge x1 at $0.74/h; max_cost_per_hour = 0.5" in e.detail, e.detail


def test_accelerators_and_a_fixed_instance_type(tmp_project: Project) -> None:
    _hooks([])
    _project(tmp_project, '    accelerators = ["nvidia"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0 and "# estimate: ml.g4dn.xlarge x1" in r.stdout, r
    _project(tmp_project, "    p99_latency_ms = 10", extra='  instance_type = "ml.m5.large"')
    r = tmp_project.run("plan")
    (e,) = _errors(r.output)
    assert e.summary == "Latency constraint cannot be met", e
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'p99_latency_ms')}:"), e
    assert 'instance_type = "ml.m5.large" is fixed' in e.detail


def test_autoscaling_bounds_are_checked_against_the_throughput(tmp_project: Project) -> None:
    _hooks([])
    _project(tmp_project, "    p99_latency_ms = 30\n    min_throughput_rps = 100000",
             extra="  autoscaling {\n    min_replicas = 1\n    max_replicas = 2\n  }")
    r = tmp_project.run("plan")
    (e,) = _errors(r.output)
    assert e.summary == "Throughput constraint cannot be met"
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'max_replicas')}:"), e
    assert "(autoscaling.max_replicas = 2)" in e.detail


def test_hardware_not_measurable_here_is_scaled_from_this_cpus_measurement(tmp_project: Project) -> None:
    """No profile hook: the testing provider measures nothing, so the local provider measures the
    real model here and the estimate says it was scaled."""
    _hooks([], measured=True)
    _project(tmp_project, "    p99_latency_ms = 100")
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: ml.m5.large x1" in r.stdout
    assert "scaled from this CPU by the ml.m5 factor (1)" in r.stdout, r.stdout
    assert list((tmp_project.path / ".mlform" / "cache" / "profile").glob("grid-*.json"))


def test_a_changed_choice_shows_the_monthly_cost_delta(tmp_project: Project) -> None:
    _hooks([])
    _project(tmp_project, "    p99_latency_ms = 16")
    assert tmp_project.run("apply", "-auto-approve").exit_code == 0
    (res,) = [x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.e"]
    assert res["attributes"]["estimated_cost_per_hour"] == 0.204
    _project(tmp_project, '    p99_latency_ms = 16\n    accelerators   = ["nvidia"]')
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: ml.g4dn.xlarge x1, p99 5.6 ms, $0.74/h, $1.30/1M, (+$0.53/h)" in r.stdout, r.stdout
    assert "Cost: +$388.36/month" in r.stdout, r.stdout  # (0.736 - 0.204) $/h x 730 h
