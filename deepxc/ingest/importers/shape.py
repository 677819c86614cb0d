"""Data movement ops whose attributes deepxc checks or restricts: Pad, Flatten, Reshape,
Transpose, and the `axis` of the ops that take one.

ONNX's shape inference accepts a few invalid forms that onnxruntime refuses when it runs
them (an axis past the rank, a Reshape shape that is not a vector, a Transpose `perm`
that is no permutation of the axes): refused here.
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
    """Flatten's axis may also be the rank itself (everything in the first dimension)."""
    _check_axis(node, graph, node.attrs.get("axis", 1), past_last=1)
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


def with_axis(node: Node, graph: Graph) -> Node:
    """Concat, Softmax, Split, Gather, ...: `axis`, if given, names an axis of the input."""
    if "axis" in node.attrs:
        _check_axis(node, graph, node.attrs["axis"], past_last=0)
    return node


def _check_axis(node: Node, graph: Graph, axis, past_last: int) -> None:
    """`axis` lies in -rank..rank - 1 + `past_last` for the rank of the node's input."""
    rank = len(graph.spec(node.inputs[0]).shape)
    last = rank - 1 + past_last
    if not isinstance(axis, int) or not -rank <= axis <= last:
        raise InvalidGraph(
            f"node '{node.name}' ({node.op}): axis {axis!r} is outside -{rank}..{last} "
            f"for an input of rank {rank}"
        )


def transpose(node: Node, graph: Graph) -> Node:
    rank = len(graph.spec(node.inputs[0]).shape)
    perm = node.attrs.get("perm")
    if perm is not None and sorted(perm) != list(range(rank)):
        raise InvalidGraph(
            f"node '{node.name}' (Transpose): perm {list(perm)} is not a permutation of the "
            f"{rank} axes of its input"
        )
    return node
