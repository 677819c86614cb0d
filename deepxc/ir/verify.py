"""Structural checks of the IR, run after ingest and after every pass."""

from __future__ import annotations

import networkx as nx

from deepxc.errors import InvalidGraph
from deepxc.ir.graph import Graph


def verify(graph: Graph, after: str = "ingest") -> None:
    """Raise InvalidGraph naming the first broken rule; `after` names the stage that ran."""

    def fail(message: str) -> None:
        raise InvalidGraph(f"{message} (after {after})")

    if not nx.is_directed_acyclic_graph(graph.dag):
        cycle = nx.find_cycle(graph.dag)
        fail(f"graph has a cycle through nodes {' -> '.join(edge[0] for edge in cycle)}")

    available = set(graph.inputs) | set(graph.constants)
    for name in available:
        _check_spec(graph, name, fail)
    for node in graph.nodes():
        for tensor in node.inputs:
            if tensor and tensor not in available:
                fail(f"node '{node.name}' ({node.op}) reads '{tensor}', which no node produces")
        for tensor in node.outputs:
            if not tensor:
                continue
            if tensor in available:
                fail(f"tensor '{tensor}' is produced twice (by node '{node.name}')")
            _check_spec(graph, tensor, fail)
            available.add(tensor)
    for tensor in graph.outputs:
        if tensor not in available:
            fail(f"graph output '{tensor}' is never produced")
    for name, value in graph.constants.items():
        spec = graph.tensors[name]
        if tuple(value.shape) != spec.shape or value.dtype.name != spec.dtype:
            fail(f"constant '{name}' does not match its spec {spec}")


def _check_spec(graph: Graph, tensor: str, fail) -> None:
    spec = graph.tensors.get(tensor)
    if spec is None:
        fail(f"tensor '{tensor}' has no known shape")
        return
    if any((not isinstance(d, int)) or d <= 0 for d in spec.shape):
        if graph.is_constant(tensor) and all(isinstance(d, int) for d in spec.shape):
            return  # empty constants (e.g. an unused ROI input) are legal
        fail(f"tensor '{tensor}' has an invalid shape {list(spec.shape)}: dimensions must be > 0")
