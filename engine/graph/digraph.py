"""A small directed graph with the part of networkx' ``DiGraph`` API we use.

Importing networkx costs 0.15-0.4 s (it loads every algorithm package), more
than planning a thousand resources; every command that plans paid it. This
class keeps the same shape (``g.nodes[n]["kind"]``, ``g.edges[u, v]["rng"]``,
``n in g``) and the same :func:`topological_sort` order as networkx, and
:meth:`DiGraph.to_networkx` hands a real networkx graph to the rare caller
that needs an algorithm (cycle reporting).
"""

from __future__ import annotations

from typing import Any, Iterator


class _Edges:
    """``g.edges``: iterates ``(u, v)``; ``g.edges[u, v]`` is the edge's attributes."""

    __slots__ = ("_succ",)

    def __init__(self, succ: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._succ = succ

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for u, nbrs in self._succ.items():
            for v in nbrs:
                yield (u, v)

    def __len__(self) -> int:
        return sum(len(n) for n in self._succ.values())

    def __contains__(self, e: object) -> bool:
        if not isinstance(e, tuple) or len(e) != 2:
            return False
        return e[1] in self._succ.get(e[0], {})

    def __getitem__(self, e: tuple[str, str]) -> dict[str, Any]:
        return self._succ[e[0]][e[1]]


class DiGraph:
    """Nodes with attributes, edges ``a -> b`` with attributes, insertion-ordered."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self._succ: dict[str, dict[str, dict[str, Any]]] = {}
        self._pred: dict[str, dict[str, dict[str, Any]]] = {}

    def add_node(self, n: str, **attrs: Any) -> None:
        if n not in self.nodes:
            self.nodes[n] = {}
            self._succ[n] = {}
            self._pred[n] = {}
        self.nodes[n].update(attrs)

    def add_edge(self, u: str, v: str, **attrs: Any) -> None:
        self.add_node(u)
        self.add_node(v)
        data = self._succ[u].setdefault(v, {})
        data.update(attrs)
        self._pred[v][u] = data

    def __contains__(self, n: object) -> bool:
        return n in self.nodes

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def edges(self) -> _Edges:
        return _Edges(self._succ)

    def has_edge(self, u: str, v: str) -> bool:
        return v in self._succ.get(u, {})

    def successors(self, n: str) -> Iterator[str]:
        return iter(self._succ[n])

    def predecessors(self, n: str) -> Iterator[str]:
        return iter(self._pred[n])

    def to_networkx(self) -> Any:
        """The same graph as a ``networkx.DiGraph`` (imports networkx)."""
        import networkx as nx

        g = nx.DiGraph()
        for n, attrs in self.nodes.items():
            g.add_node(n, **attrs)
        for u, nbrs in self._succ.items():
            for v, attrs in nbrs.items():
                g.add_edge(u, v, **attrs)
        return g


class CycleError(ValueError):
    """The graph has a cycle (find it with :func:`mlform.engine.graph.build.build_graph`)."""


def topological_sort(g: DiGraph) -> list[str]:
    """Nodes, every node after its predecessors, in networkx' order.

    networkx yields generation by generation (Kahn's algorithm over nodes and
    successors in insertion order); the same order keeps plans and their
    diagnostics as they were. Raises :class:`CycleError` on a cycle.
    """
    indegree = {n: len(p) for n, p in g._pred.items()}
    gen = [n for n, d in indegree.items() if d == 0]
    out: list[str] = []
    while gen:
        out += gen
        nxt: list[str] = []
        for n in gen:
            for child in g._succ[n]:
                indegree[child] -= 1
                if indegree[child] == 0:
                    nxt.append(child)
        gen = nxt
    if len(out) != len(g.nodes):
        raise CycleError("the graph has a cycle")
    return out


def has_cycle(g: DiGraph) -> bool:
    try:
        topological_sort(g)
    except CycleError:
        return True
    return False


def ancestors(g: DiGraph, n: str) -> set[str]:
    """Every node with a path to ``n`` (``n`` itself excluded)."""
    seen: set[str] = set()
    stack = [n]
    while stack:
        for p in g._pred[stack.pop()]:
            if p not in seen:
                seen.add(p)
                stack.append(p)
    seen.discard(n)
    return seen
