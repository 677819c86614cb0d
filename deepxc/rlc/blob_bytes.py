"""Weights counted in the bytes the bundle stores, not in parameters.

The weights blob holds each weight in the layout its kernel reads (packed in whole
register tiles, so a factor of rank 56 may be stored as 64 columns), each one aligned,
after a header. Budgets and the printed plan count those bytes: the pipeline, which knows
the lowering and the blob format, hands the planner a `BlobLayout`; without one (the
planner on its own) a weight counts as its raw bytes and there is no header.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deepxc.ir import Graph, Node

# weight -> (bytes the blob stores for it, bytes of those its kernel reads), padding included
WeightSizes = dict[str, tuple[int, int]]


def raw_sizes(graph: Graph) -> WeightSizes:
    """Each constant's own bytes (a factor kept for several levels: the stored array's)."""
    sizes = {}
    for name, value in graph.constants.items():
        store = graph.rank_stores.get(name)
        sizes[name] = (int((value if store is None else store.array).nbytes), int(value.nbytes))
    return sizes


@dataclass(frozen=True)
class BlobLayout:
    sizes: Callable[[Graph], WeightSizes] = raw_sizes
    header_bytes: int = 0

    def stored(self, graph: Graph) -> int:
        """Payload bytes of a blob holding `graph` alone."""
        return sum(stored for stored, _ in self.sizes(graph).values())


def layer_graph(graph: Graph, node_name: str) -> Graph:
    """A graph of one layer of `graph`: its activations as inputs and outputs, its
    constants as they are. A layer's weights are laid out from its own shapes only, so
    this counts its bytes as the whole graph would."""
    node = graph.node(node_name)
    single = Graph(f"{graph.name}:{node_name}")
    for tensor in node.inputs:
        if not tensor:
            continue
        if graph.is_constant(tensor):
            single.add_constant(tensor, graph.constants[tensor])
        elif tensor not in single.inputs:
            single.tensors[tensor] = graph.spec(tensor)
            single.inputs.append(tensor)
    for tensor in node.outputs:
        if tensor:
            single.tensors[tensor] = graph.spec(tensor)
    single.add_node(Node(node.name, node.op, list(node.inputs), list(node.outputs), node.attrs))
    single.outputs = [t for t in node.outputs if t]
    return single


RAW_BYTES = BlobLayout()  # without a target: raw bytes, no header
