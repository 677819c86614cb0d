"""IR -> ONNX model, so a graph (say, after a low-rank rewrite) can be run by any ONNX
runtime: the RLC stage measures accuracy this way, with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import defs, helper, numpy_helper

from deepxc.ir.graph import Graph, Node


def to_onnx(graph: Graph, as_inputs=(), batch: str | None = None) -> onnx.ModelProto:
    """The graph as an ONNX model. Constants named in `as_inputs` become graph inputs
    (fed at run time) instead of initializers. With `batch`, the leading axis of the
    graph's inputs and outputs is the symbolic dimension `batch`."""
    opset = max((n.attrs.get("_opset", 13) for n in graph.nodes()), default=13)
    nodes = [_node(node, opset) for node in graph.nodes()]

    def value(name: str, batched: bool) -> onnx.ValueInfoProto:
        spec = graph.spec(name)
        shape: list = list(spec.shape)
        if batched and batch and shape:
            shape[0] = batch
        elem = helper.np_dtype_to_tensor_dtype(np.dtype(spec.dtype))
        return helper.make_tensor_value_info(name, elem, shape)

    inputs = [value(name, True) for name in graph.inputs]
    inputs += [value(name, False) for name in as_inputs]
    initializers = [
        numpy_helper.from_array(np.asarray(array), name)
        for name, array in graph.constants.items()
        if name not in set(as_inputs)
    ]
    outputs = [value(name, True) for name in graph.outputs]
    model = helper.make_model(
        helper.make_graph(nodes, graph.name, inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    model.ir_version = min(model.ir_version, 8)  # what onnxruntime releases all read
    return model


def _node(node: Node, opset: int) -> onnx.NodeProto:
    known = defs.get_schema(node.op, opset, "").attributes
    attrs = {}
    for key, value in node.attrs.items():
        if key not in known:
            continue  # deepxc's own notes (_opset) and defaults the op does not take
        attrs[key] = numpy_helper.from_array(value) if isinstance(value, np.ndarray) else value
    return helper.make_node(node.op, node.inputs, node.outputs, name=node.name, **attrs)
