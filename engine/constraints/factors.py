"""Scaling factors per hardware class: how a latency measured on this machine's CPU is carried
to hardware that cannot be measured here (docs/constraints.md#scaling-factors).

A factor multiplies a model execution time measured here. The figures are coarse, per
class, and documented with their basis; a provider that knows better sets
``HardwareOption.speed_factor`` (anything but 1.0 wins over this table).
"""

from __future__ import annotations

from typing import Any

# (name prefix, factor, what it is). Longest prefix first wins.
CLASS_FACTORS: list[tuple[str, float, str]] = [
    ("ml.c5", 0.85, "AWS compute-optimised Xeon (Cascade Lake), AVX-512"),
    ("ml.c6i", 0.75, "AWS compute-optimised Xeon (Ice Lake)"),
    ("ml.m5", 1.0, "AWS general-purpose Xeon"),
    ("ml.r5", 1.0, "AWS memory-optimised Xeon"),
    ("ml.g4dn", 0.30, "NVIDIA T4"),
    ("ml.g5", 0.15, "NVIDIA A10G"),
    ("ml.p3", 0.12, "NVIDIA V100"),
    ("n1-standard", 1.1, "GCP N1 (Skylake/Broadwell)"),
    ("n2-standard", 0.9, "GCP N2 (Cascade/Ice Lake)"),
    ("c2-standard", 0.8, "GCP compute-optimised C2"),
    ("e2-standard", 1.2, "GCP shared-core E2"),
    ("g2-standard", 0.15, "NVIDIA L4"),
    ("a2-highgpu", 0.08, "NVIDIA A100"),
]
# An accelerator without a class entry: coarse defaults by accelerator kind.
ACCELERATOR_FACTORS = {"nvidia-t4": 0.30, "nvidia-tesla-t4": 0.30, "nvidia-l4": 0.15, "nvidia-a10g": 0.15,
                       "nvidia-v100": 0.12, "nvidia-tesla-v100": 0.12, "nvidia-a100": 0.08,
                       "nvidia-tesla-a100": 0.08}


def factor_for(option: Any, measured_on: str) -> tuple[float, str]:
    """(factor, basis) for ``option`` (a HardwareOption). ``measured_on`` names the device the
    profile ran on ("cpu" or a GPU)."""
    if option.name == "local":
        return 1.0, f"measured on this {'CPU' if measured_on == 'cpu' else 'GPU'}"
    if option.speed_factor != 1.0:
        return float(option.speed_factor), f"scaled from this CPU by the provider's factor ({option.speed_factor:g})"
    for prefix, f, _ in sorted(CLASS_FACTORS, key=lambda x: -len(x[0])):
        if option.name.startswith(prefix):
            return f, f"scaled from this CPU by the {prefix} factor ({f:g})"
    if option.accelerator in ACCELERATOR_FACTORS:
        f = ACCELERATOR_FACTORS[option.accelerator]
        return f, f"scaled from this CPU by the {option.accelerator} factor ({f:g})"
    return 1.0, "assumed as fast as this CPU (no factor for its class)"
