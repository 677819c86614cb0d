"""Binary arithmetic (with the legacy broadcast of opset < 7) and Dropout."""

from __future__ import annotations

import numpy as np

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node, TensorSpec


def binary(node: Node, graph: Graph) -> Node:
    """Add, Sub, Mul, Div broadcast like numpy, except before opset 7 with broadcast=1:
    there B's dimensions line up with A's from `axis` on (default: A's last ones). B is
    given trailing 1-dimensions so that numpy broadcasting computes the same thing."""
    legacy = node.attrs.pop("broadcast", 0) and node.attrs["_opset"] < 7
    axis = node.attrs.pop("axis", None)
    if not legacy:
        return node
    a_rank = len(graph.spec(node.inputs[0]).shape)
    b_spec = graph.spec(node.inputs[1])
    b_rank = len(b_spec.shape)
    axis = a_rank - b_rank if axis is None else axis % a_rank
    trailing = a_rank - axis - b_rank
    if trailing < 0:
        raise UnsupportedOp(
            node.name, node.op, f"broadcast axis {axis} does not fit B of rank {b_rank}"
        )
    if trailing:
        shape = b_spec.shape + (1,) * trailing
        node.inputs = [node.inputs[0], _reshaped(graph, node, shape)]
    return node


def _reshaped(graph: Graph, node: Node, shape: tuple[int, ...]) -> str:
    """B viewed as `shape`: a new constant, or a Reshape node in front of `node`."""
    source = node.inputs[1]
    if graph.is_constant(source):
        return graph.add_constant(
            graph.fresh_name(f"{source}_aligned"), graph.constants[source].reshape(shape)
        )
    target = graph.add_constant(graph.fresh_name(f"{node.name}_shape"), np.array(shape))
    aligned = graph.fresh_name(f"{source}_aligned")
    graph.tensors[aligned] = TensorSpec(shape, graph.spec(source).dtype)
    # Opset 13 semantics (shape as an input), whatever the model's opset.
    reshape = Node(graph.fresh_name(f"{node.name}_align"), "Reshape", [source, target], [aligned])
    reshape.attrs["_opset"] = 13
    graph.add_node(reshape)
    return aligned


def dropout(node: Node, graph: Graph) -> Node:
    # The mask is not computed: ingest refuses a reader of it.
    node.outputs = node.outputs[:1]
    # is_test (opset < 7) defaults to training, yet inference exports omit it: refuse only 0.
    if node.attrs.get("is_test", 1) == 0 and node.attrs["_opset"] < 7:
        raise UnsupportedOp(node.name, node.op, "is_test=0 (training mode; inference only)")
    if len(node.inputs) > 2 and node.inputs[2]:
        training = graph.constants.get(node.inputs[2])
        if training is None:
            raise UnsupportedOp(
                node.name, node.op, "training_mode (input 2) must be a constant false"
            )
        if bool(training):
            raise UnsupportedOp(node.name, node.op, "training mode (inference only)")
    return node
