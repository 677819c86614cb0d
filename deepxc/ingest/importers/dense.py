"""Gemm: the bias must broadcast to the product (before opset 7, only with broadcast=1),
which ONNX's shape inference leaves unchecked."""

from __future__ import annotations

import numpy as np

from deepxc.errors import InvalidGraph
from deepxc.ir import Graph, Node


def gemm(node: Node, graph: Graph) -> Node:
    if len(node.inputs) > 2 and node.inputs[2]:
        output = graph.spec(node.outputs[0]).shape
        bias = graph.spec(node.inputs[2]).shape
        if node.attrs["_opset"] < 7 and not node.attrs.get("broadcast", 0):
            fits = tuple(bias) == tuple(output)  # before opset 7, broadcasting is opt-in
        else:
            try:
                fits = np.broadcast_shapes(bias, output) == tuple(output)
            except ValueError:
                fits = False
        if not fits:
            raise InvalidGraph(
                f"node '{node.name}' (Gemm): bias '{node.inputs[2]}' of shape {list(bias)} "
                f"does not broadcast to the product's shape {list(output)}"
            )
    return node
