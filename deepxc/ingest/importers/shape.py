"""Data movement ops whose attributes deepxc restricts: Pad."""

from __future__ import annotations

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node

PAD_MODES = ("constant", "reflect", "edge")


def pad(node: Node, graph: Graph) -> Node:
    mode = node.attrs.setdefault("mode", "constant")
    if mode not in PAD_MODES:
        raise UnsupportedOp(node.name, node.op, f"mode={mode} (supported: {', '.join(PAD_MODES)})")
    return node
