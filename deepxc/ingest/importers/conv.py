"""Conv: 1-D, 2-D and 3-D, groups (depthwise), strides, dilations, explicit or automatic pads."""

from __future__ import annotations

from deepxc.ingest.importers.common import resolve_pads, spatial_rank
from deepxc.ir import Graph, Node


def conv(node: Node, graph: Graph) -> Node:
    rank = spatial_rank(node, graph)
    kernel = list(graph.spec(node.inputs[1]).shape[2:])
    node.attrs["kernel_shape"] = kernel
    node.attrs["pads"] = resolve_pads(node, graph, kernel, rank)
    node.attrs["auto_pad"] = "NOTSET"
    node.attrs.setdefault("strides", [1] * rank)
    node.attrs.setdefault("dilations", [1] * rank)
    node.attrs.setdefault("group", 1)
    return node
