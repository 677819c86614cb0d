"""Evaluate at compile time every node whose inputs are all known.

Shape of a tensor with a static shape is known too. Evaluation uses ONNX's reference
implementation on a one-node model, so folding agrees with the ONNX specification
without deepxc re-implementing each op, whatever the op (a Cast, Range or Where of
shape arithmetic needs no importer and no kernel).

Ingest folds each node as it reads it (`fold`), so that a shape computed from folded
values is known to the nodes after it; the pass folds what is left foldable in a graph
made otherwise.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import defs, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from deepxc.errors import InvalidGraph
from deepxc.ir import Graph, Node

# Folding would fix one draw of what is random at each run (Dropout: in training mode).
NEVER_FOLD = {
    "Dropout",
    "RandomNormal",
    "RandomUniform",
    "RandomNormalLike",
    "RandomUniformLike",
    "Multinomial",
    "Bernoulli",
}


def run(graph: Graph) -> Graph:
    for node in graph.nodes():
        if foldable(graph, node):
            graph.remove_node(node.name)
            fold(graph, node)
    graph.drop_unused_constants()
    return graph


def build_time_nodes(onnx_graph: onnx.GraphProto) -> set[int]:
    """The indices of the ONNX nodes that ingest will fold: those reading only
    initializers and values that nodes before them fold to (Constant, Shape, ...)."""
    known = {init.name for init in onnx_graph.initializer}
    found = set()
    for index, node in enumerate(onnx_graph.node):
        if node.op_type in NEVER_FOLD:
            continue
        if node.op_type == "Shape" or all(not t or t in known for t in node.input):
            known.update(t for t in node.output if t)
            found.add(index)
    return found


def foldable(graph: Graph, node: Node) -> bool:
    """The node's outputs are known at compile time: its inputs are constants, or it is
    the Shape of a tensor (whose shape is static)."""
    if node.op in NEVER_FOLD:
        return False
    return node.op == "Shape" or all(not t or graph.is_constant(t) for t in node.inputs)


def fold(graph: Graph, node: Node) -> None:
    """Make the outputs of a foldable node (not in the graph) constants of the graph."""
    values = [_shape_of(graph, node)] if node.op == "Shape" else _evaluate(graph, node)
    for tensor, value in zip(node.outputs, values):
        if tensor:
            graph.add_constant(tensor, value)


def _shape_of(graph: Graph, node: Node) -> np.ndarray:
    shape = np.array(graph.spec(node.inputs[0]).shape, dtype=np.int64)
    start = node.attrs.get("start", 0)
    end = node.attrs.get("end", len(shape))
    return shape[start:end]


def _evaluate(graph: Graph, node: Node) -> list[np.ndarray]:
    inputs = [t for t in node.inputs if t]
    opset = node.attrs.get("_opset", 17)
    # Importers fill defaults of their own; the reference only takes the op's attributes.
    known = defs.get_schema(node.op, opset, "").attributes
    attrs = {k: v for k, v in node.attrs.items() if k in known}
    for key, value in attrs.items():
        if isinstance(value, np.ndarray):
            attrs[key] = numpy_helper.from_array(value)
    proto = helper.make_node(node.op, node.inputs, node.outputs, **attrs)
    model = helper.make_model(
        helper.make_graph(
            [proto],
            "fold",
            [],
            [helper.make_tensor_value_info(t, 0, None) for t in node.outputs if t],
            [numpy_helper.from_array(graph.constants[t], t) for t in inputs],
        ),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    try:
        results = ReferenceEvaluator(model).run(None, {})
    except Exception as exc:  # the reference raises many types for malformed nodes
        raise InvalidGraph(f"node '{node.name}' ({node.op}) cannot be evaluated: {exc}") from None
    return [np.asarray(r) for r in results]
