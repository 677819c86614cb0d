"""BatchNormalization (inference), LayerNormalization and LRN: checks beyond the ONNX
defaults."""

from __future__ import annotations

from deepxc.errors import UnsupportedOp
from deepxc.ingest.importers.common import only_first_output
from deepxc.ingest.importers.shape import with_axis
from deepxc.ir import Graph, Node


def batch_norm(node: Node, graph: Graph) -> Node:
    if node.attrs.get("training_mode", 0):
        raise UnsupportedOp(node.name, node.op, "training_mode=1 (inference only)")
    only_first_output(node, "running mean/var")
    # is_test (opset < 7) defaults to training, yet inference exports omit it: refuse only 0.
    if node.attrs.get("is_test", 1) == 0 and node.attrs["_opset"] < 7:
        raise UnsupportedOp(node.name, node.op, "is_test=0 (training mode; inference only)")
    if node.attrs.get("spatial", 1) == 0:
        raise UnsupportedOp(node.name, node.op, "spatial=0 (statistics per element)")
    node.attrs.setdefault("epsilon", 1e-5)
    return node


def lrn(node: Node, graph: Graph) -> Node:
    size = node.attrs.get("size")
    if not isinstance(size, int) or size < 1:
        raise UnsupportedOp(node.name, node.op, f"size must be a positive integer, got {size}")
    if len(graph.spec(node.inputs[0]).shape) < 2:
        raise UnsupportedOp(node.name, node.op, "input needs a channel dimension")
    node.attrs.setdefault("alpha", 1e-4)
    node.attrs.setdefault("beta", 0.75)
    node.attrs.setdefault("bias", 1.0)
    return node


def layer_norm(node: Node, graph: Graph) -> Node:
    # Mean and InvStdDev (training outputs) are not computed: ingest refuses a reader of them.
    node.outputs = node.outputs[:1]
    node.attrs.setdefault("axis", -1)
    node.attrs.setdefault("epsilon", 1e-5)
    return with_axis(node, graph)
