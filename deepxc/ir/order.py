"""The graph in a given order: `Graph.nodes()` is a topological sort that breaks ties by
the position a node was added at, so a graph whose nodes are re-added in a topological
order yields exactly that order. A plan orders layers by their start times; partitions
follow the order (`deepxc.ir.placement.partitions`), so the order decides which layers
the runtime can overlap."""

from __future__ import annotations

import networkx as nx

from deepxc.ir.graph import Graph


def in_order(graph: Graph, names: list[str]) -> Graph:
    """A copy of `graph` whose `nodes()` yields the nodes `names` gives, in that order.
    ValueError where `names` is not a topological order of all of its nodes."""
    missing = set(graph.dag.nodes) - set(names)
    unknown = [name for name in names if name not in graph.dag]
    if missing or unknown or len(set(names)) != len(names):
        problem = (
            f"no layer {unknown[0]!r}"
            if unknown
            else f"{sorted(missing)[0]!r} is missing"
            if missing
            else "a layer is named twice"
        )
        raise ValueError(f"order of {graph.name}: {problem}")
    position = {name: index for index, name in enumerate(names)}
    for before, after in graph.dag.edges:
        if position[before] > position[after]:
            raise ValueError(
                f"order of {graph.name}: {after!r} comes before {before!r}, whose output it reads"
            )
    ordered = graph.copy()
    dag = nx.DiGraph()
    dag.add_nodes_from((name, ordered.dag.nodes[name]) for name in names)
    dag.add_edges_from(ordered.dag.edges(data=True))
    ordered.dag = dag
    return ordered
