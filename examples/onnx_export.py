"""What the training scripts of the examples share when they write their model.onnx:
opset 17, IR version 8, batch 1, checked; and the normalised MLP of the audio examples."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def finish_model(
    nodes: list, name: str, inputs: dict, outputs: dict, initializers: list
) -> onnx.ModelProto:
    """The checked model (opset 17, IR 8) of `nodes`; `inputs` and `outputs` map each
    float tensor's name to its shape."""
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs.items()],
        initializers,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="deepxc-examples"
    )
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def normalized_mlp(
    linears: list, mean: np.ndarray, scale: np.ndarray, input_name: str, output_name: str
) -> tuple[list, list]:
    """(nodes, initializers) of `(x - mean) * scale` followed by the torch Linear layers
    `linears` as Gemm `fc1`, `fc2`, ... with a Relu between each two."""
    initializers = [
        numpy_helper.from_array(mean.reshape(1, -1).astype(np.float32), "mean"),
        numpy_helper.from_array(scale.reshape(1, -1).astype(np.float32), "scale"),
    ]
    nodes = [
        helper.make_node("Sub", [input_name, "mean"], ["centred"], "normalize_sub"),
        helper.make_node("Mul", ["centred", "scale"], ["h0"], "normalize_mul"),
    ]
    for i, linear in enumerate(linears, start=1):
        name = f"fc{i}"
        initializers += [
            numpy_helper.from_array(linear.weight.detach().numpy(), f"{name}.weight"),
            numpy_helper.from_array(linear.bias.detach().numpy(), f"{name}.bias"),
        ]
        last = i == len(linears)
        out = output_name if last else f"g{i}"
        gemm_inputs = [f"h{i - 1}", f"{name}.weight", f"{name}.bias"]
        nodes.append(helper.make_node("Gemm", gemm_inputs, [out], name, transB=1))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"h{i}"], f"relu{i}"))
    return nodes, initializers
