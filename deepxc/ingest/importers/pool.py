"""MaxPool and AveragePool (1-D, 2-D, 3-D), GlobalAveragePool and GlobalMaxPool."""

from __future__ import annotations

from deepxc.errors import UnsupportedOp
from deepxc.ingest.importers.common import only_first_output, resolve_pads, spatial_rank
from deepxc.ir import Graph, Node


def pool(node: Node, graph: Graph) -> Node:
    rank = spatial_rank(node, graph)
    only_first_output(node, "Indices")  # storage_order only matters for Indices
    kernel = list(node.attrs["kernel_shape"])
    node.attrs["pads"] = resolve_pads(node, graph, kernel, rank)
    node.attrs["auto_pad"] = "NOTSET"
    node.attrs.setdefault("strides", [1] * rank)
    node.attrs.setdefault("dilations", [1] * rank)
    node.attrs.setdefault("ceil_mode", 0)
    if node.op == "AveragePool":
        node.attrs.setdefault("count_include_pad", 0)
    return node


def global_pool(node: Node, graph: Graph) -> Node:
    if len(graph.spec(node.inputs[0]).shape) < 3:
        raise UnsupportedOp(node.name, node.op, "input needs a spatial dimension")
    return node
