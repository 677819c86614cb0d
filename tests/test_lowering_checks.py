"""Lowering refuses to build code whose shapes or dtypes differ from the IR's.

The IR's shapes come from ONNX shape inference, the kernels' from Relax and TIR. Before
these checks, a disagreement built a bundle that ran and gave wrong outputs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from models import make_model, tensor
from onnx import helper
from support import quiet, reference_outputs
from test_cli_errors import assert_one_line_error, save
from tvm import relax

import deepxc.lower.partition
from deepxc.errors import LoweringMismatch
from deepxc.ir import TensorSpec
from deepxc.lower.relax_ops import EMITTERS
from deepxc.pipeline import build_model
from deepxc.runner import run_bundle


def pool_relu(dilation: int = 1):
    """MaxPool (3 taps, stride 2) over 4 rows, then Relu."""
    return make_model(
        [
            helper.make_node(
                "MaxPool",
                ["x"],
                ["p"],
                name="pool",
                kernel_shape=[3, 1],
                strides=[2, 1],
                dilations=[dilation, 1],
            ),
            helper.make_node("Relu", ["p"], ["y"], name="relu"),
        ],
        [tensor("x", [1, 1, 4, 3])],
        [tensor("y", None)],
        opset=18,
    )


def one_column_short(ctx, node):
    x = ctx.value(node.inputs[0])
    columns = ctx.spec(node.inputs[0]).shape[-1]
    return [relax.op.nn.relu(relax.op.strided_slice(x, axes=[3], begin=[0], end=[columns - 1]))]


def half_precision(ctx, node):
    return [relax.op.astype(relax.op.nn.relu(ctx.value(node.inputs[0])), "float16")]


def test_emitted_shape_differing_from_the_ir_is_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(EMITTERS, "Relu", one_column_short)
    message = (
        r"node 'relu' \(Relu\): output 'y' is \[1, 1, 1, 3\] float32 in the IR but "
        r"\[1, 1, 1, 2\] float32 as compiled; this is a deepxc bug; please report it"
    )
    with pytest.raises(LoweringMismatch, match=message):
        build_model(pool_relu(), "host", str(tmp_path), log=quiet)


def test_emitted_dtype_differing_from_the_ir_is_refused(monkeypatch, tmp_path):
    monkeypatch.setitem(EMITTERS, "Relu", half_precision)
    with pytest.raises(LoweringMismatch, match=r"\[1, 1, 1, 3\] float16 as compiled"):
        build_model(pool_relu(), "host", str(tmp_path), log=quiet)


def test_kernel_taking_other_buffers_than_its_call_passes_is_refused(monkeypatch, tmp_path):
    build_kernels = deepxc.lower.partition.build_kernels

    def widened_first_parameter(*args, **kwargs):
        kernels, workspace, new = build_kernels(*args, **kwargs)
        name, kernel = next(iter(kernels.items()))
        first = kernel.params[0]
        params = [TensorSpec((first.shape[0] + 1, *first.shape[1:]), first.dtype)]
        kernels[name] = dataclasses.replace(kernel, params=params + kernel.params[1:])
        return kernels, workspace, new

    monkeypatch.setattr(deepxc.lower.partition, "build_kernels", widened_first_parameter)
    message = (
        r"kernel \S+ \(for 'pool'.*\): argument 0 'x' is \[1, 1, 4, 3\] float32, "
        r"the kernel takes \[2, 1, 4, 3\] float32; this is a deepxc bug"
    )
    with pytest.raises(LoweringMismatch, match=message):
        build_model(pool_relu(), "host", str(tmp_path), log=quiet)


def test_mismatch_is_one_line_from_the_cli(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(EMITTERS, "Relu", one_column_short)
    model = save(pool_relu(), tmp_path / "m.onnx")
    assert_one_line_error(
        capsys, ["build", model, "-o", tmp_path / "b"], "node 'relu' (Relu)", "deepxc bug"
    )


def test_overhanging_dilated_maxpool_is_refused_or_right(tmp_path):
    """Taps 0, 2, 4 over 4 rows: onnxruntime and ONNX's inference make one window (taps 0
    and 2), TVM's floor rule none. A bundle must not be built with an empty output."""
    model = pool_relu(dilation=2)
    x = np.arange(12, dtype=np.float32).reshape(1, 1, 4, 3) - 5
    try:
        build_model(model, "host", str(tmp_path), log=quiet)
    except LoweringMismatch:
        return
    outputs, _ = run_bundle(str(tmp_path), {"x": x})
    np.testing.assert_array_equal(outputs["y"], reference_outputs(model, {"x": x})["y"])


def test_an_operator_relax_refuses_is_a_one_line_error(monkeypatch, capsys, tmp_path):
    """Relax checks each operator as it is made (broadcasting, axes, attribute ranges);
    a node that breaks a rule ingest does not check ended as an internal error."""

    def unbroadcastable_add(ctx, node):
        x = ctx.value(node.inputs[0])
        return [relax.op.add(x, relax.const(np.zeros((7, 5), np.float32)))]

    monkeypatch.setitem(EMITTERS, "Relu", unbroadcastable_add)
    line = assert_one_line_error(
        capsys,
        ["build", save(pool_relu(), tmp_path / "m.onnx"), "-o", tmp_path / "b"],
        "node 'relu' (Relu) cannot be compiled",
        "not broadcastable",
    )
    assert "ir.Op(" not in line  # Relax's description of the operator is left out
