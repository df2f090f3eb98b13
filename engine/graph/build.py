"""The dependency graph of a configuration.

Nodes are addresses: ``var.x``, ``local.y``, ``provider.local``,
``model.m`` (one node per resource block; instances are expanded in the plan),
``output.o``. An edge ``a -> b`` means *b depends on a* (a is evaluated or
applied first).
"""

from __future__ import annotations

from typing import Any

from mlform.engine.config import schema as S
from mlform.engine.config.model import Config
from mlform.engine.diagnostics import Diagnostics, SourceRange, error
from mlform.engine.graph.digraph import DiGraph, ancestors, has_cycle, topological_sort
from mlform.engine.load import ast as A


def _node_of(trav: tuple[str, ...]) -> str | None:
    root = trav[0]
    if root in ("var", "local") and len(trav) >= 2:
        return f"{root}.{trav[1]}"
    if root in S.RESOURCE_KINDS and len(trav) >= 2:
        return f"{root}.{trav[1]}"
    return None


def _expr_deps(e: A.Expr | None) -> list[tuple[str, SourceRange]]:
    if e is None:
        return []
    out = []
    for trav, rng in A.references(e):
        n = _node_of(trav)
        if n:
            out.append((n, rng))
    return out


def _body_deps(body: A.Body, skip: tuple[str, ...] = ()) -> list[tuple[str, SourceRange]]:
    out: list[tuple[str, SourceRange]] = []
    for name, a in body.attributes.items():
        if name not in skip:
            out += _expr_deps(a.expr)
    for nb in body.blocks:
        if nb.type != "lifecycle":
            out += _body_deps(nb.body)
    return out


def build_graph(cfg: Config) -> tuple[DiGraph, Diagnostics]:
    """Build the dependency graph of ``cfg``.

    Every node carries ``kind`` ("var", "local", "provider", "resource",
    "output") and ``rng``; every edge carries the ``rng`` of the reference
    that made it. Returns diagnostics (not exceptions) for a dependency cycle,
    reported as the ordered path ``a -> b -> a`` with the first reference's
    position. Unknown references were already reported by decoding; edges to
    undeclared nodes are dropped here.
    """
    g = DiGraph()
    for v in cfg.variables.values():
        g.add_node(f"var.{v.name}", kind="var", rng=v.rng)
    for n, a in cfg.locals.items():
        g.add_node(f"local.{n}", kind="local", rng=a.rng)
    for key, p in cfg.providers.items():
        g.add_node(key, kind="provider", rng=p.rng)
    for r in cfg.resources.values():
        g.add_node(r.address, kind="resource", rng=r.rng)
    for o in cfg.outputs.values():
        g.add_node(f"output.{o.name}", kind="output", rng=o.rng)

    def link(dep: str, node: str, rng: SourceRange) -> None:
        if dep in g and dep != node or dep == node:
            g.add_edge(dep, node, rng=rng)

    for n, a in cfg.locals.items():
        for dep, rng in _expr_deps(a.expr):
            link(dep, f"local.{n}", rng)
    for key, p in cfg.providers.items():
        for dep, rng in _body_deps(p.body):
            link(dep, key, rng)
    for r in cfg.resources.values():
        for dep, rng in _body_deps(r.body, skip=("provider", "depends_on")):
            link(dep, r.address, rng)
        for dep, rng in r.depends_on:
            link(dep, r.address, rng)
        if r.provider_key in g:
            g.add_edge(r.provider_key, r.address, rng=r.rng)
    for o in cfg.outputs.values():
        for dep, rng in _expr_deps(o.value):
            link(dep, f"output.{o.name}", rng)
        for dep in o.depends_on:
            link(dep, f"output.{o.name}", o.rng)

    diags = Diagnostics()
    for cycle in _cycles(g):
        path = " -> ".join(cycle + [cycle[0]])
        # cycle[0] depends on cycle[1]: the reference that says so is on the
        # edge cycle[1] -> cycle[0], written inside cycle[0].
        first = g.edges[cycle[1] if len(cycle) > 1 else cycle[0], cycle[0]]["rng"]
        diags.append(error("Dependency cycle", f"{path}. Each of these depends on the next; break the cycle "
                           "by removing one of the references.", first))
    return g, diags


def _cycles(dg: DiGraph) -> list[list[str]]:
    """One ordered cycle per strongly connected component that has one.

    Each cycle is listed in *depends on* order (every node depends on the
    next one), the reverse of the graph's edges, which point from a
    dependency to what needs it. networkx is imported only when there is a
    cycle to report.
    """
    if not has_cycle(dg):
        return []
    import networkx as nx

    g: Any = dg.to_networkx()
    out: list[list[str]] = []
    for comp in nx.strongly_connected_components(g):
        if len(comp) == 1:
            (n,) = comp
            if not g.has_edge(n, n):
                continue
            out.append([n])
            continue
        sub = g.subgraph(comp).reverse(copy=False)
        start = min(comp)
        edges = nx.find_cycle(sub, source=start)
        out.append([u for u, _ in edges])
    return sorted(out)


def to_dot(g: DiGraph, actions: dict[str, str] | None = None) -> str:
    """The graph in DOT, resources as boxes; with a plan, each labelled by its action."""
    lines = ["digraph mlform {", '  rankdir = "LR";', '  node [fontname = "sans-serif"];']
    for n in sorted(g.nodes):
        kind = g.nodes[n].get("kind", "")
        shape = {"resource": "box", "provider": "diamond", "output": "note"}.get(kind, "ellipse")
        label = n
        if actions and n in actions:
            label = f"{actions[n]} {n}"
        lines.append(f'  "{n}" [label = "{label}", shape = {shape}];')
    for a, b in sorted(g.edges):
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


__all__ = ["build_graph", "to_dot", "DiGraph", "topological_sort", "ancestors"]
