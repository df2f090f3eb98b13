"""validate: everything that can be checked without calling a provider."""

from __future__ import annotations

from typing import Any

from mlform.engine.cli import common as C
from mlform.engine.config.decode import load_config
from mlform.engine.config.provider_schema import validate_with_providers
from mlform.engine.diagnostics import Diagnostics, DiagnosticsError
from mlform.engine.expr.eval import EvalError, contains_errored
from mlform.engine.graph.build import build_graph
from mlform.engine.plan.context import EvalContext
from mlform.engine.values import UNKNOWN, contains_unknown


def run_validate(s: C.Session) -> Diagnostics:
    cfg, d = load_config(s.directory)
    if cfg is None:
        return d
    s.sources.update(cfg.sources)
    if d.has_errors:
        return d
    from mlform.engine.graph.digraph import topological_sort
    g, gd = build_graph(cfg)
    d.extend(gd)
    if d.has_errors:
        return d
    # Evaluate what can be evaluated: variables with unknown inputs, locals,
    # and each resource's attributes with other resources unknown.
    ctx = EvalContext(cfg)
    ctx.var_values = {}
    for name, v in cfg.variables.items():
        ctx.var_values[name] = UNKNOWN
    for node in topological_sort(g):
        kind = g.nodes[node]["kind"]
        try:
            if kind == "local":
                ctx.eval_local(node.split(".", 1)[1])
            elif kind == "resource":
                r = cfg.resources[node]
                ctx.resource_values[node] = UNKNOWN
                if r.count is not None or r.for_each is not None:
                    _check_repetition(ctx, r)
                if r.count is None and r.for_each is None:
                    from mlform.engine.plan.context import Instance
                    inst = Instance(r, None, r.address)
                    conf, _, cd = ctx.eval_config(inst)
                    d.extend(x for x in cd if "unknown" not in x.detail.lower())
                    if not cd.has_errors and not contains_errored(conf):  # a failed local: reported there
                        d.extend(validate_with_providers(cfg, r, r.address, conf))
        except (EvalError, DiagnosticsError) as e:
            d.extend(e.diagnostics)
    return d


def _check_repetition(ctx: EvalContext, r: Any) -> None:
    """count / for_each values known without input variables (``count = -1``) are checked now."""
    from mlform.engine.expr.scope import evaluate

    e = r.count if r.count is not None else r.for_each
    v = evaluate(e, ctx.scope())
    if v is UNKNOWN or (isinstance(v, list) and contains_unknown(v)):
        return  # depends on variables or other resources: checked by plan
    ctx.expand(r)
