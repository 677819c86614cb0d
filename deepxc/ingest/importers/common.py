"""Helpers shared by importers: attribute checks and padding resolution."""

from __future__ import annotations

import math

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node


def passthrough(node: Node, graph: Graph) -> Node:
    """Ops whose ONNX attributes are used as they are (defaults applied by the emitter)."""
    return node


def only_first_output(node: Node, what: str) -> None:
    if any(node.outputs[1:]):
        raise UnsupportedOp(node.name, node.op, f"the {what} output is not supported")


def spatial_rank(node: Node, graph: Graph, allowed=(1, 2, 3)) -> int:
    rank = len(graph.spec(node.inputs[0]).shape) - 2
    if rank not in allowed:
        raise UnsupportedOp(
            node.name,
            node.op,
            f"{rank}-D data is not supported (only {' and '.join(f'{r}-D' for r in allowed)})",
        )
    return rank


def resolve_pads(node: Node, graph: Graph, kernel: list[int], rank: int) -> list[int]:
    """Explicit [begin..., end...] pads, with auto_pad SAME_UPPER/SAME_LOWER/VALID resolved."""
    strides = list(node.attrs.get("strides", [1] * rank))
    dilations = list(node.attrs.get("dilations", [1] * rank))
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("NOTSET", ""):
        pads = list(node.attrs.get("pads", [0] * (2 * rank)))
        if any(p < 0 for p in pads):
            raise UnsupportedOp(node.name, node.op, "negative pads")
        return pads
    if auto_pad == "VALID":
        return [0] * (2 * rank)
    if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
        raise UnsupportedOp(node.name, node.op, f"auto_pad={auto_pad}")
    spatial = graph.spec(node.inputs[0]).shape[2:]
    begins, ends = [], []
    for size, k, stride, dilation in zip(spatial, kernel, strides, dilations):
        out = math.ceil(size / stride)
        total = max(0, (out - 1) * stride + (k - 1) * dilation + 1 - size)
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends
