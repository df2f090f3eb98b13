"""The quickstart pointed at SageMaker on moto (tests/fixtures/sagemaker_moto.py): the same models, eval suite
and rollout block, the endpoint on ``provider "sagemaker"`` (an ml.c5.large instance instead of the latency
constraint: moto takes only older instance families); user traffic sent with InvokeEndpoint."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.rollout_support import ROW, copy_quickstart, endpoint
from tests.fixtures.sagemaker_moto import SageMakerMoto

__all__ = ["InvokeLoad", "attrs", "sagemaker_quickstart", "variants"]


def sagemaker_quickstart(tmp: Path, sm: SageMakerMoto, provider_extra: str = "") -> Path:
    proj = copy_quickstart(tmp)
    cfg = proj / "main.mlf.hcl"
    text = cfg.read_text()
    start = text.index('provider "local" {')
    end = text.index("}\n", start) + 2
    text = text[:start] + sm.provider_block(provider_extra) + text[end:]
    text = text.replace("  provider   = provider.local\n", "  provider      = provider.sagemaker\n"
                                                             '  instance_type = "ml.c5.large"\n')
    # moto's invocations are slow (one Python process answers every call): a bound real latency never reaches
    text = text.replace("p99_latency_ms = 250", "p99_latency_ms = 20000")
    c = text.index("  constraints {")
    text = text[:c] + text[text.index("  }\n", c) + 4:]
    cfg.write_text(text)
    return proj


def attrs(proj: Path) -> dict[str, Any]:
    return dict(endpoint(proj)["attributes"])


def variants(sm: SageMakerMoto, proj: Path) -> dict[str, int]:
    """Variant -> percent of the endpoint's traffic, as SageMaker (moto) reports it."""
    ep = sm.client("sagemaker").describe_endpoint(EndpointName=attrs(proj)["endpoint_name"])
    vs = {v["VariantName"]: float(v.get("CurrentWeight", 0)) for v in ep["ProductionVariants"]}
    total = sum(vs.values()) or 1.0
    return {k: round(100 * w / total) for k, w in vs.items()}


class InvokeLoad:
    """A client calling InvokeEndpoint (no TargetVariant: SageMaker routes by weight) until stopped."""

    def __init__(self, sm: SageMakerMoto, name: str) -> None:
        self.runtime, self.name = sm.client("sagemaker-runtime"), name
        self.served: dict[str, int] = {}
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import json

        while not self.stop.is_set():
            try:
                r = self.runtime.invoke_endpoint(EndpointName=self.name, Body=json.dumps(ROW),
                                                 ContentType="application/json")
                v = r["InvokedProductionVariant"]
                self.served[v] = self.served.get(v, 0) + 1
            except Exception as e:  # noqa: BLE001 - every failure a user would see is kept
                self.errors.append(repr(e)[:200])
            time.sleep(0.05)

    def __enter__(self) -> InvokeLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
