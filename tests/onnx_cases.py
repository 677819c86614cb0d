"""ONNX backend test cases (node, pytorch-converted, pytorch-operator) for deepxc's ops.

The node cases come from the generators shipped in the onnx wheel (its data directory
for node tests is not shipped); their expected outputs are computed by ONNX's numpy
reference. The pytorch cases are read from the wheel's data directories.
"""

from __future__ import annotations

import glob
import os
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

SUPPORTED_OPS = {
    "Conv",
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sum",
    "Relu",
    "LeakyRelu",
    "Clip",
    "Sigmoid",
    "Tanh",
    "HardSigmoid",
    "HardSwish",
    "Softmax",
    "LogSoftmax",
    "BatchNormalization",
    "LRN",
    "LayerNormalization",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Split",
    "Pad",
    "Expand",
    "Slice",
    "Dropout",
    "Identity",
    "Cast",
    "Constant",
    "ConstantOfShape",
    "Shape",
    "Gather",
    "Resize",
    "Upsample",
    "ConvTranspose",
}

# Inputs that deepxc needs at compile time (shape-like operands, BatchNorm statistics):
# the harness binds the test's data for them as initializers, as an exporter would.
CONSTANT_SLOTS = {
    "Reshape": {1},
    "Clip": {1, 2},
    "Pad": {1, 2, 3},
    "ReduceMean": {1},
    "ReduceSum": {1},
    "ReduceMax": {1},
    "Expand": {1},
    "Slice": {1, 2, 3, 4},
    "Split": {1},
    "Squeeze": {1},
    "Unsqueeze": {1},
    "ConstantOfShape": {0},
    "Gather": {1},
    "Dropout": {1, 2},
    "BatchNormalization": {1, 2, 3, 4},
    "Resize": {1, 2, 3},
    "Upsample": {1},
}

DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


@dataclass
class Case:
    name: str
    model: onnx.ModelProto
    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def ops_of(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def node_cases() -> list[Case]:
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the generators of unrelated ops warn on overflow
        tests = collect_testcases(None)
    cases = []
    for test in tests:
        if test.kind != "node" or not ops_of(test.model) <= SUPPORTED_OPS:
            continue
        if not ops_of(test.model) or not test.data_sets:
            continue
        inputs_list, outputs_list = test.data_sets[0]
        graph = test.model.graph
        inputs = {v.name: np.asarray(a) for v, a in zip(graph.input, inputs_list)}
        outputs = {v.name: np.asarray(a) for v, a in zip(graph.output, outputs_list)}
        cases.append(Case(test.name, test.model, inputs, outputs))
    return cases


def pytorch_cases() -> list[Case]:
    cases = []
    for kind in ("pytorch-converted", "pytorch-operator"):
        for directory in sorted(glob.glob(os.path.join(DATA_DIR, kind, "test_*"))):
            model = onnx.load(os.path.join(directory, "model.onnx"))
            if not ops_of(model) <= SUPPORTED_OPS:
                continue
            data = os.path.join(directory, "test_data_set_0")
            inputs = _read_tensors(data, "input", model.graph.input, model)
            outputs = _read_tensors(data, "output", model.graph.output, model)
            cases.append(Case(f"{kind}/{os.path.basename(directory)}", model, inputs, outputs))
    return cases


def _read_tensors(directory, prefix, values, model) -> dict[str, np.ndarray]:
    initializers = {i.name for i in model.graph.initializer}
    names = [v.name for v in values if v.name not in initializers]
    arrays = {}
    for index, name in enumerate(names):
        tensor = onnx.TensorProto()
        with open(os.path.join(directory, f"{prefix}_{index}.pb"), "rb") as file:
            tensor.ParseFromString(file.read())
        arrays[name] = numpy_helper.to_array(tensor)
    return arrays


def bind_constant_inputs(case: Case) -> Case:
    """Turn inputs deepxc needs at compile time into initializers holding the test data."""
    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    graph = model.graph
    bind = set()
    for node in graph.node:
        for slot, tensor in enumerate(node.input):
            if slot in CONSTANT_SLOTS.get(node.op_type, ()) and tensor in case.inputs:
                bind.add(tensor)
    for name in bind:
        graph.initializer.append(numpy_helper.from_array(case.inputs[name], name))
    kept = [v for v in graph.input if v.name not in bind]
    del graph.input[:]
    graph.input.extend(kept)
    inputs = {k: v for k, v in case.inputs.items() if k not in bind}
    return Case(case.name, model, inputs, case.outputs)


def float32_only(case: Case) -> bool:
    arrays = list(case.inputs.values()) + list(case.outputs.values())
    return all(a.dtype == np.float32 for a in arrays)
