"""What the solver reads (a measured profile, the declared constraints) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Point:
    """One model execution measured on this machine: ``batch_size`` rows on ``threads`` intra-op threads."""

    batch_size: int
    threads: int
    p50_ms: float
    p99_ms: float


@dataclass
class Profile:
    """A model's measured points on this machine, with the device they ran on."""

    points: list[Point]
    device: str = "cpu"
    accelerator: str = "none"
    cpu: str = ""
    overhead_ms: float = 0.0

    @classmethod
    def from_response(cls, resp: Any) -> "Profile":
        pts = [Point(int(p["batch_size"]), int(p["threads"]), float(p["p50_ms"]), float(p["p99_ms"]))
               for p in resp.points]
        return cls(pts, resp.device, resp.accelerator, resp.cpu, float(resp.overhead_ms))


@dataclass
class Constraints:
    """An endpoint's ``constraints`` block and what the user fixed (respected, checked, not chosen)."""

    p99_latency_ms: float | None = None
    min_throughput_rps: float | None = None
    max_cost_per_million: float | None = None
    max_cost_per_hour: float | None = None
    accelerators: list[str] | None = None
    instance_type: str | None = None  # set by the user: checked instead of chosen
    replicas: int | None = None
    batch_size: int | None = None
    min_replicas: int | None = None  # autoscaling bounds
    max_replicas: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Constraints":
        c = config.get("constraints") or {}
        a = config.get("autoscaling") or {}
        b = config.get("batching") or {}

        def num(v: Any) -> float | None:
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        def whole(v: Any) -> int | None:  # a count the user set; anything else is the provider's to refuse
            f = num(v)
            return int(f) if f is not None and f.is_integer() and f >= 1 else None

        acc = c.get("accelerators")
        return cls(num(c.get("p99_latency_ms")), num(c.get("min_throughput_rps")),
                   num(c.get("max_cost_per_million")), num(c.get("max_cost_per_hour")),
                   [str(x) for x in acc] if isinstance(acc, list) else None,
                   config.get("instance_type") if isinstance(config.get("instance_type"), str) else None,
                   whole(config.get("replicas")), whole(config.get("batch_size")) or whole(b.get("max_batch_size")),
                   whole(a.get("min_replicas")), whole(a.get("max_replicas")))


@dataclass(frozen=True)
class Candidate:
    """One configuration the solver considered, with its estimates."""

    hardware: str
    accelerator: str
    price_per_hour: float
    as_of: str
    replicas: int
    batch_size: int
    threads: int
    max_delay_ms: float
    p99_ms: float
    capacity_rps: float  # all replicas together, at the utilisation the solver plans for
    cost_per_hour: float
    cost_per_million: float
    basis: str  # "measured on this CPU" / "scaled from this CPU by the ml.c5 factor (0.85)"
    utilisation: float = 0.0  # the declared load against the replicas' full rate

    def summary(self) -> str:
        batch = f", batch {self.batch_size} (delay {self.max_delay_ms:g} ms)" if self.batch_size > 1 else ""
        return (f"{self.hardware} x{self.replicas}{batch}, p99 {self.p99_ms:.1f} ms, "
                f"${self.cost_per_hour:.2f}/h, ${self.cost_per_million:.2f}/1M")

    def estimates(self) -> dict[str, Any]:
        return {"instance_type": self.hardware, "replicas": self.replicas, "batch_size": self.batch_size,
                "max_delay_ms": self.max_delay_ms, "threads": self.threads, "p99_ms": round(self.p99_ms, 3),
                "capacity_rps": round(self.capacity_rps, 1), "cost_per_hour": round(self.cost_per_hour, 4),
                "cost_per_million": round(self.cost_per_million, 4), "accelerator": self.accelerator,
                "price_as_of": self.as_of, "basis": self.basis, "utilisation": round(self.utilisation, 3)}


@dataclass
class Infeasible:
    """Why no configuration meets the constraints: the binding one (an attribute path) and the closest option."""

    path: tuple[str, ...]
    summary: str
    detail: str


@dataclass
class Solution:
    best: Candidate | None
    runner_up: Candidate | None = None
    infeasible: Infeasible | None = None
    warnings: list[tuple[tuple[str, ...], str, str]] = field(default_factory=list)
