"""Declared constraints on the ``local`` provider, through the CLI: the model is profiled here
(batch sizes x intra-op threads, by the server's own runner, cached by digest), the plan shows
what was chosen on this machine ("measured on this CPU") and apply deploys it; a constraint this
machine cannot meet fails at its line with the closest option; ``mlform hardware`` lists this
machine and ``hardware refresh`` says how price tables are regenerated (docs/constraints.md)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.rollout_support import ROW
from tests.fixtures.project import Project, RenderedDiagnostic, parse_diagnostics

pytestmark = pytest.mark.slow


def _project(p: Project, constraints: str, extra: str = "") -> None:
    p.copy_model("models/m.onnx")
    p.write("main.mlf.hcl", f'''model "m" {{
  source = "./models/m.onnx"
}}

endpoint "e" {{
  model = model.m
{extra}
  constraints {{
{constraints}
  }}
}}

output "url" {{
  value = endpoint.e.url
}}
''')


def _errors(out: str) -> list[RenderedDiagnostic]:
    assert "Traceback" not in out and "internal error" not in out, out
    return [d for d in parse_diagnostics(out) if d.severity == "Error"]


def _line(p: Project, needle: str) -> int:
    return next(n for n, line in enumerate(p.read("main.mlf.hcl").splitlines(), 1) if needle in line)


def test_constraints_choose_on_this_machine_and_apply_deploys_it(tmp_project: Project) -> None:
    _project(tmp_project, "    p99_latency_ms     = 50\n    min_throughput_rps = 100")
    r = tmp_project.run("plan")
    assert r.exit_code == 0, r
    assert "# estimate: local x1, on cpu, p99" in r.stdout, r.stdout
    assert "# chosen by constraints: batch 1" in r.stdout and "measured on this CPU" in r.stdout, r.stdout
    assert "# runner-up: local x1, batch " in r.stdout, r.stdout  # batching only adds delay at 100 req/s
    assert "Cost: +$0.00/month" in r.stdout
    grid = list((tmp_project.path / ".mlform" / "cache" / "profile").glob("grid-*.json"))
    assert len(grid) == 1
    points = json.loads(grid[0].read_text())["points"]
    assert {p["batch_size"] for p in points} == {1, 2, 4, 8, 16, 32}
    try:
        a = tmp_project.run("apply", "-auto-approve")
        assert a.exit_code == 0, a
        (res,) = [x for x in tmp_project.state()["resources"] if x["address"] == "endpoint.e"]
        attrs = res["attributes"]
        assert (attrs["instance_type"], attrs["replicas"], attrs["batch_size"]) == ("local", 1, 1)
        assert 0 < attrs["estimated_p99_ms"] <= 50
        url = json.loads(tmp_project.run("output", "-json").stdout)["url"]["value"]
        got = httpx.post(f"{url}/v2/models/e/infer", json=ROW, timeout=10)
        assert got.status_code == 200, got.text
        again = tmp_project.run("plan")
        assert again.exit_code == 0 and "No changes." in again.stdout, again
    finally:
        tmp_project.run("destroy", "-auto-approve")


def test_a_latency_this_machine_cannot_meet_fails_at_the_constraint(tmp_project: Project) -> None:
    _project(tmp_project, "    p99_latency_ms = 0.01")
    r = tmp_project.run("plan")
    assert r.exit_code == 1, r
    (e,) = _errors(r.output)
    assert e.summary == "Latency constraint cannot be met"
    assert (e.location or "").startswith(f"main.mlf.hcl:{_line(tmp_project, 'p99_latency_ms')}:"), e
    assert "the fastest option is local x1" in e.detail and "(measured on this CPU)" in e.detail, e.detail


def test_throughput_beyond_one_local_server_fails_naming_what_it_reaches(tmp_project: Project) -> None:
    _project(tmp_project, "    min_throughput_rps = 1000000")
    (e,) = _errors(tmp_project.run("plan").output)
    assert e.summary == "Throughput constraint cannot be met", e
    assert "the most the options reach is" in e.detail and "with local x1" in e.detail, e.detail


def test_hardware_lists_this_machine(tmp_project: Project) -> None:
    r = tmp_project.run("hardware", "local", "--json")
    assert r.exit_code == 0, r
    (opt,) = json.loads(r.stdout)["providers"]["local"]["options"]
    assert opt["name"] == "local" and opt["price_per_hour"] == 0.0 and opt["vcpus"] >= 1 and opt["as_of"]
    # An accelerator this machine lacks is an error at accelerators, naming what it has.
    other = "nvidia" if opt["accelerator"] == "none" else "none"
    _project(tmp_project, f'    accelerators = ["{other}"]')
    (e,) = _errors(tmp_project.run("plan").output)
    assert e.summary == "Accelerator constraint cannot be met"
    assert f"has ['{opt['accelerator']}']" in e.detail
    text = tmp_project.run("hardware", "local")
    assert text.exit_code == 0 and "local  " + opt["accelerator"] in text.stdout, text
    refresh = tmp_project.run("hardware", "refresh")
    assert refresh.exit_code == 0 and "as_of" in refresh.stdout and "Nothing is downloaded" in refresh.stdout
    bad = tmp_project.run("hardware", "lokal")
    assert bad.exit_code == 1 and 'Did you mean "local"?' in bad.output
