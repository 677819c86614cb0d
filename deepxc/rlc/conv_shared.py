"""What the two convolution rewrites share: which Conv nodes they take, the node they
build, and how they read the layer."""

from __future__ import annotations

from abc import abstractmethod

import numpy as np

from deepxc.ir import Graph, Node
from deepxc.rlc.lowrank import LowRank


def factorable_conv(graph: Graph, node: Node) -> bool:
    """A float 2-D convolution, one group, constant weights: what the conv rewrites take."""
    return (
        node.op == "Conv"
        and len(node.attrs.get("kernel_shape", ())) == 2
        and node.attrs.get("group", 1) == 1
        and graph.is_constant(node.inputs[1])
        and not graph.is_constant(node.inputs[0])
        and graph.spec(node.inputs[1]).dtype == "float32"
    )


def conv_node(node: Node, name: str, inputs: list[str], output: str, **attrs) -> Node:
    """A Conv with every attribute the importer fills, taking `attrs` over `node`'s."""
    merged = {key: node.attrs[key] for key in ("strides", "pads", "dilations", "_opset")}
    merged.update(group=1, auto_pad="NOTSET", **attrs)
    return Node(name, "Conv", inputs, [output], merged)


class ConvLowRank(LowRank):
    """A factorable convolution: subclasses say how its OIHW weights become the matrix M."""

    def __init__(self, graph: Graph, node: Node):
        if not factorable_conv(graph, node):
            raise ValueError(f"{node.name}: not a 2-D convolution with constant weights")
        self.kernel_shape = graph.spec(node.inputs[1]).shape
        self.out_shape = graph.spec(node.outputs[0]).shape
        self.in_width = graph.spec(node.inputs[0]).shape[3]
        super().__init__(graph, node, self.to_matrix(graph.constants[node.inputs[1]]))

    applies = staticmethod(factorable_conv)

    @abstractmethod
    def to_matrix(self, weights: np.ndarray) -> np.ndarray:
        """OIHW weights -> M, the inverse of `from_matrix`."""
