"""Plan text for changed outputs and for what declared constraints chose, laid out as Terraform does."""

from __future__ import annotations

from mlform.engine.plan.model import OutputChange, Plan
from mlform.engine.plan.render import choice_lines, render_plan


def test_a_changed_map_output_is_shown_nested_under_its_name() -> None:
    plan = Plan(output_changes=[
        OutputChange("routes", "update", {"a": "x", "b": [1, 2]}, {"a": "y", "b": [1, 2, 3]}, False),
        OutputChange("token", "delete", "s3cr3t", None, True),
        OutputChange("url", "create", None, "http://127.0.0.1:8080", False)])
    text = render_plan(plan)
    assert "s3cr3t" not in text
    assert text.split("Changes to Outputs:\n", 1)[1] == (
        "  ~ routes = {\n"
        '      ~ a = "x" -> "y"\n'
        "      ~ b = [\n"
        "            # (2 unchanged elements hidden)\n"
        "          + 3,\n"
        "        ]\n"
        "    }\n"
        "  - token  = (sensitive value) -> null\n"
        '  + url    = "http://127.0.0.1:8080"\n')


BASE = {"basis": "measured on this machine", "threads": 2, "price_as_of": "2026-11-01"}
RUNNER_UP = {"instance_type": "c5.large", "replicas": 2, "p99_ms": 3.04, "cost_per_hour": 0.5, "cost_per_million": 0.1}


def test_what_constraints_chose_and_the_runner_up() -> None:
    assert choice_lines({**BASE, "batch_size": 1, "runner_up": {**RUNNER_UP, "batch_size": 1}}) == [
        "chosen by constraints: batch 1, 2 thread(s), measured on this machine, prices as of 2026-11-01",
        "runner-up: c5.large x2, p99 3.0 ms, $0.50/h, $0.10/1M"]  # a batch of 1 is not worth a word
    assert choice_lines({**BASE, "batch_size": 4, "max_delay_ms": 5, "runner_up": {**RUNNER_UP, "batch_size": 2}}) == [
        "chosen by constraints: batch 4 (delay 5 ms), 2 thread(s), measured on this machine, prices as of 2026-11-01",
        "runner-up: c5.large x2, batch 2, p99 3.0 ms, $0.50/h, $0.10/1M"]
    assert choice_lines({"batch_size": 4}) == []  # nothing was chosen by constraints
