"""Tiny hand-made ONNX models for tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper


def tensor(name: str, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def relu_add(shape=(1, 4), seed=0) -> onnx.ModelProto:
    """y = relu(x) + b"""
    bias = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return make_model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu1"),
            helper.make_node("Add", ["r", "b"], ["y"], name="add1"),
        ],
        [tensor("x", list(shape))],
        [tensor("y", list(shape))],
        [onnx.numpy_helper.from_array(bias, "b")],
    )
