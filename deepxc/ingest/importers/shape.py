"""Data movement ops whose attributes deepxc checks or restricts: Pad, Flatten, Reshape.

ONNX's shape inference accepts a few invalid forms that onnxruntime refuses when it runs
them (a Flatten axis past the rank, a Reshape shape that is not a vector): refused here.
"""

from __future__ import annotations

from deepxc.errors import InvalidGraph, UnsupportedOp
from deepxc.ir import Graph, Node

PAD_MODES = ("constant", "reflect", "edge")


def pad(node: Node, graph: Graph) -> Node:
    mode = node.attrs.setdefault("mode", "constant")
    if mode not in PAD_MODES:
        raise UnsupportedOp(node.name, node.op, f"mode={mode} (supported: {', '.join(PAD_MODES)})")
    return node


def flatten(node: Node, graph: Graph) -> Node:
    rank = len(graph.spec(node.inputs[0]).shape)
    axis = node.attrs.get("axis", 1)
    if not -rank <= axis <= rank:
        raise InvalidGraph(
            f"node '{node.name}' (Flatten): axis {axis} is outside -{rank}..{rank} "
            f"for an input of rank {rank}"
        )
    return node


def reshape(node: Node, graph: Graph) -> Node:
    if len(node.inputs) > 1 and node.inputs[1]:  # opset 5 and later: the shape is an input
        shape = graph.spec(node.inputs[1]).shape
        if len(shape) != 1:
            raise InvalidGraph(
                f"node '{node.name}' (Reshape): its shape '{node.inputs[1]}' has shape "
                f"{list(shape)}, not a vector"
            )
    return node
