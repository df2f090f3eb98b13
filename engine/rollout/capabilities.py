"""Plan-time check: does the endpoint's provider do what its rollout block asks?

A provider declares its rollouts' capabilities (engine/providers/rollout.py);
a configuration that asks for more (a strategy the provider does not carry
out, ``rollback_when`` on a provider that cannot observe live traffic, any
rollout on a provider without a rollout driver) fails at plan, with the
diagnostic at the rollout block, instead of doing less at apply.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.diagnostics import Diagnostics, SourceRange, error
from mlform.engine.load.ast import Body
from mlform.engine.providers.protocol import ProviderBase
from mlform.engine.providers.rollout import missing_calls
from mlform.engine.rollout.strategy import StrategyError, resolve

__all__ = ["check_rollout"]


def check_rollout(decl: Any, address: str, prov: ProviderBase, rollout: dict[str, Any], d: Diagnostics) -> bool:
    """Add an error to ``d`` for each capability ``rollout`` (the planned rollout of
    ``address``, declared by ``decl``) needs and ``prov`` lacks; ``True`` when none is missing."""
    found = _problems(prov, rollout)
    for summary, detail, where in found:
        d.append(error(summary, detail, _range(decl, where), address=address))
    return not found


def _problems(prov: ProviderBase, ro: dict[str, Any]) -> list[tuple[str, str, tuple[str, ...]]]:
    name = prov.name
    driver = prov.rollouts()
    if driver is None:
        return [(f'Provider "{name}" cannot roll out a new version',
                 f"This change replaces the version {name} serves, which mlform rolls out (stage, gates, "
                 f"traffic), but the {name} provider has no rollout support. Use a provider that rolls out, "
                 "or replace the endpoint (`mlform apply -replace=ADDRESS`).", ())]
    missing = missing_calls(driver)
    if missing:
        return [(f'Provider "{name}" does not implement the rollouts it declares',
                 f"Its rollout capabilities promise {', '.join(missing)}, which its rollout driver lacks. "
                 "This is a bug in the provider: report it to its authors.", ())]
    caps = driver.capabilities
    out: list[tuple[str, str, tuple[str, ...]]] = []
    strategy = str(ro.get("strategy") or "all_at_once")
    if strategy not in caps.strategies:
        why = " (it cannot split traffic between two versions)" if strategy in ("canary", "linear") \
            and not caps.can_split else ""
        out.append((f'Rollout strategy "{strategy}" is not supported by provider "{name}"',
                    f"The {name} provider rolls out with " + ", ".join(f'"{s}"' for s in caps.strategies)
                    + f" only{why}. Use one of those strategies.", ("strategy",)))
    try:
        bakes = resolve(strategy, ro.get("steps")).bake
    except StrategyError:
        bakes = False  # the plan reports the strategy itself
    rb = ro.get("rollback_when") or {}
    watched = [k for k in ("error_rate", "p99_latency_ms") if rb.get(k) is not None]
    if bakes and watched and not caps.can_observe:
        out.append((f'Provider "{name}" cannot observe live traffic',
                    f"rollback_when sets {' and '.join(watched)}, which is judged on the new version's "
                    f"live figures during each bake, but the {name} provider does not report them. Remove "
                    "rollback_when (the bakes then only wait), or use a provider that observes traffic.",
                    ("rollback_when",)))
    return out


def _range(decl: Any, where: tuple[str, ...]) -> SourceRange | None:
    """The rollout block's ``where`` attribute or block, else the rollout block, else the resource."""
    body: Body | None = getattr(decl, "body", None)
    rng: SourceRange | None = getattr(decl, "rng", None)
    block = next((b for b in body.blocks if b.type == "rollout"), None) if body is not None else None
    if block is None:
        if body is not None and "rollout" in body.attributes:  # rollout = { ... }
            return body.attributes["rollout"].expr.rng
        return rng
    for name in where:
        if name in block.body.attributes:
            return block.body.attributes[name].expr.rng
        inner = next((b for b in block.body.blocks if b.type == name), None)
        if inner is not None:
            return inner.rng
    return block.rng
