"""Element-wise ops and Dropout: checks beyond the ONNX defaults."""

from __future__ import annotations

from deepxc.errors import UnsupportedOp
from deepxc.ingest.importers.common import only_first_output
from deepxc.ir import Graph, Node


def dropout(node: Node, graph: Graph) -> Node:
    # An exported mask nobody reads is dropped; a node reading it later fails to find it.
    node.outputs = node.outputs[:1]
    if len(node.inputs) > 2 and node.inputs[2]:
        training = graph.constants.get(node.inputs[2])
        if training is None or bool(training):
            raise UnsupportedOp(node.name, node.op, "training mode (inference only)")
    return node


def batch_norm(node: Node, graph: Graph) -> Node:
    only_first_output(node, "running mean/var")
    if node.attrs.get("training_mode", 0):
        raise UnsupportedOp(node.name, node.op, "training_mode=1 (inference only)")
    return node
