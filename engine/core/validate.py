"""validate: everything that can be checked without configuring a provider or reading state.

The configuration graph is walked by the one walker, as plan walks it, but
with every input variable and every resource unknown: locals are evaluated,
each resource's attributes are evaluated and type-checked, ``count`` and
``for_each`` values known without inputs are checked, and each provider's
static checks (``validate_config``) run on what is known.
"""

from __future__ import annotations

from typing import Any

from mlform.engine.config.model import Config
from mlform.engine.config.provider_schema import validate_with_providers
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError
from mlform.engine.expr.eval import EvalError, contains_errored
from mlform.engine.graph.digraph import DiGraph
from mlform.engine.graph.walk import walk
from mlform.engine.plan.context import EvalContext, Instance
from mlform.engine.values import UNKNOWN, contains_unknown


def validate_graph(cfg: Config, g: DiGraph) -> Diagnostics:
    """The diagnostics of evaluating ``cfg`` (whose graph ``g`` has no cycle) with inputs unknown."""
    d = Diagnostics()
    ctx = EvalContext(cfg)
    ctx.var_values = {name: UNKNOWN for name in cfg.variables}

    def visit(node: str) -> bool:
        kind = g.nodes[node]["kind"]
        try:
            if kind == "local":
                ctx.eval_local(node.split(".", 1)[1])
            elif kind == "resource":
                r = cfg.resources[node]
                ctx.resource_values[node] = UNKNOWN
                if r.count is not None or r.for_each is not None:
                    _check_repetition(ctx, r)
                else:
                    conf, _, cd = ctx.eval_config(Instance(r, None, r.address))
                    d.extend(x for x in cd if "unknown" not in x.detail.lower())
                    if not cd.has_errors and not contains_errored(conf):  # a failed local: reported there
                        d.extend(validate_with_providers(cfg, r, r.address, conf))
        except (EvalError, DiagnosticsError) as e:
            d.extend(e.diagnostics)
        return True  # a failure is ERRORED in the context: dependents are still checked

    walk(g, visit)
    return d


def _check_repetition(ctx: EvalContext, r: Any) -> None:
    """count / for_each values known without input variables (``count = -1``) are checked now."""
    from mlform.engine.expr.scope import evaluate

    e = r.count if r.count is not None else r.for_each
    v = evaluate(e, ctx.scope())
    if v is UNKNOWN or (isinstance(v, list) and contains_unknown(v)):
        return  # depends on variables or other resources: checked by plan
    ctx.expand(r)


__all__ = ["validate_graph"]
