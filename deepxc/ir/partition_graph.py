"""A partition of a graph (a set of its layers) as a graph of its own.

Its inputs are the tensors its layers read that none of them makes and that are no
constants (model inputs, or other partitions' outputs), in the order the layers first
read them; its outputs are the tensors its layers make that a layer outside it reads or
that the model outputs, in the order they are made.
"""

from __future__ import annotations

from deepxc.errors import DeepxcError
from deepxc.ir.graph import Graph, Node


def partition_graph(graph: Graph, layers: list[str]) -> Graph:
    """The layers named in `layers` (IR node names) as a graph, in the model's order."""
    unknown = [name for name in layers if name not in graph.dag]
    if unknown:
        raise DeepxcError(f"partition: no layer named {', '.join(map(repr, unknown))}")
    chosen = set(layers)
    nodes = [node for node in graph.nodes() if node.name in chosen]
    made = {tensor for node in nodes for tensor in node.outputs if tensor}
    sub = Graph(graph.name)
    for node in nodes:
        for tensor in node.inputs:
            if not tensor or tensor in made or tensor in sub.inputs:
                continue
            if graph.is_constant(tensor):
                sub.add_constant(tensor, graph.constants[tensor])
                if tensor in graph.rank_stores:
                    sub.rank_stores[tensor] = graph.rank_stores[tensor]
            else:
                sub.inputs.append(tensor)
                sub.tensors[tensor] = graph.spec(tensor)
    for node in nodes:
        sub.add_node(
            Node(node.name, node.op, list(node.inputs), list(node.outputs), dict(node.attrs))
        )
        for tensor in node.outputs:
            if not tensor:
                continue
            sub.tensors[tensor] = graph.spec(tensor)
            read_outside = any(c.name not in chosen for c in graph.consumers(tensor))
            if read_outside or tensor in graph.outputs:
                sub.outputs.append(tensor)
    return sub
