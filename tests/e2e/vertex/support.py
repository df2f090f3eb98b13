"""The quickstart pointed at the FAKE Vertex AI (tests/fakes/vertex): the same models, eval
suite and rollout block, the endpoint on ``provider "vertex"``; the CLI run as a subprocess."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.rollout_support import copy_quickstart, endpoint, mlform, state

__all__ = ["attrs", "endpoint", "mlform", "state", "vertex_quickstart"]
from tests.fixtures.vertex_fake import VertexFake


def vertex_quickstart(tmp: Path, vf: VertexFake, **provider_extra: str) -> Path:
    proj = copy_quickstart(tmp)
    cfg = proj / "main.mlf.hcl"
    text = cfg.read_text()
    start = text.index('provider "local" {')
    end = text.index("}\n", start) + 2
    text = text[:start] + vf.provider_block(**provider_extra) + text[end:]
    text = text.replace("  provider   = provider.local\n", "  provider   = provider.vertex\n")
    # Bakes of 1 s, and a p99 bound a loaded CI machine's probes through the fake stay under:
    # only test_a_breach_during_a_bake_rolls_back means to breach it (it sets 0.001 ms).
    text = text.replace("bake_seconds = 3", "bake_seconds = 1").replace("p99_latency_ms = 250", "p99_latency_ms = 5000")
    cfg.write_text(text)
    return proj


def attrs(proj: Path) -> dict[str, Any]:
    return dict(endpoint(proj)["attributes"])
