"""The onnx wheel's light model zoo, with realistic seeded weights.

The light models store their weights as ConstantOfShape fills (every weight 0.02), which
would make a comparison meaningless: each fill is replaced by seeded random values of the
scale a trained network has (He-scaled kernels, BatchNorm statistics near identity).
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from onnx import numpy_helper

ZOO_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def zoo_path(name: str) -> str:
    return os.path.join(ZOO_DIR, f"light_{name}.onnx")


def realistic_model(name: str, seed: int = 0) -> onnx.ModelProto:
    model = onnx.load(zoo_path(name))
    rng = np.random.default_rng(seed)
    graph = model.graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for slot, tensor in enumerate(node.input):
            consumers.setdefault(tensor, []).append((node, slot))
    kept = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in constants:
            kept.append(node)
            continue
        shape = tuple(int(d) for d in constants[node.input[0]])
        value = _realistic(rng, shape, node.output[0], consumers)
        graph.initializer.append(numpy_helper.from_array(value, node.output[0]))
    del graph.node[:]
    graph.node.extend(kept)
    used = {tensor for node in kept for tensor in node.input}
    initializers = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    # the model as a user ships it: weights are initializers only. Listed as graph inputs
    # too, they could be overridden at run time, and onnxruntime could neither fold nor
    # pre-pack them (IR 4 and later need not list them).
    names = {i.name for i in initializers}
    inputs = [v for v in graph.input if v.name in used and v.name not in names]
    del graph.input[:]
    graph.input.extend(inputs)
    model.ir_version = max(model.ir_version, 4)
    return model


def _realistic(rng, shape, tensor, consumers) -> np.ndarray:
    normal = rng.standard_normal(shape).astype(np.float32)
    node, slot = _role(tensor, consumers)
    op = node.op_type if node is not None else ""
    if op == "Conv" and slot == 1:
        return normal * np.float32(np.sqrt(2.0 / np.prod(shape[1:])))
    if op == "Gemm" and slot == 1:
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        fan_in = shape[1] if trans_b else shape[0]
        return normal * np.float32(np.sqrt(2.0 / fan_in))
    if op == "BatchNormalization" and slot == 1 or op == "Mul":
        return 1 + 0.1 * normal
    if op == "BatchNormalization" and slot == 4:
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return 0.1 * normal


def _role(tensor, consumers):
    """The first consumer that is not a pure reshaping op, and the slot it reads."""
    for node, slot in consumers.get(tensor, []):
        if node.op_type in ("Unsqueeze", "Reshape", "Identity"):
            return _role(node.output[0], consumers)
        return node, slot
    return None, 0
