"""deepxc's own kernels (deepxc.schedules) against onnxruntime, one layer at a time.

Shapes are chosen to hit every edge of the tiling: rows, columns and channels that do not
fill a register tile, both vector directions (along columns, across channels), groups,
strides, dilations, asymmetric borders, epilogues fused into the kernel (bias, ReLU,
residual add), and one and two threads.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper
from support import assert_close, quiet, random_inputs, reference_outputs

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle
from deepxc.schedules import conv2d
from deepxc.targets import Core

# name: (channels, size (h, w), out channels, kernel, strides, pads, dilations, group)
CONVS = {
    "3x3_tails": (5, (17, 19), 13, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    "1x1_narrow": (16, (13, 13), 40, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    "7x7_stride2": (3, (30, 30), 16, (7, 7), (2, 2), (3, 3, 3, 3), (1, 1), 1),
    "3x3_stride2_uneven_pads": (6, (15, 16), 12, (3, 3), (2, 2), (0, 1, 1, 0), (1, 1), 1),
    "3x3_dilated": (4, (16, 16), 8, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 1),
    "5x5_on_7x7": (24, (7, 7), 48, (5, 5), (1, 1), (2, 2, 2, 2), (1, 1), 1),
    "grouped_3x3": (8, (12, 12), 12, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2),
    "grouped_1x1": (12, (10, 10), 24, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 3),
    "depthwise_3x3": (8, (14, 14), 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 8),
    "depthwise_stride2": (6, (15, 15), 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 6),
    "depthwise_multiplier": (4, (9, 9), 8, (3, 3), (1, 1), (0, 0, 0, 0), (1, 1), 4),
    "1x1_output_pixel": (32, (1, 1), 10, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),
}


def _conv_model(case: str, bias: bool, epilogue: str) -> onnx.ModelProto:
    channels, (h, w), out_channels, kernel, strides, pads, dilations, group = CONVS[case]
    rng = np.random.default_rng(1)
    weights = rng.standard_normal((out_channels, channels // group, *kernel)).astype(np.float32)
    initializers = [onnx.numpy_helper.from_array(weights, "w")]
    conv_inputs = ["x", "w"]
    if bias:
        initializers.append(
            onnx.numpy_helper.from_array(rng.standard_normal(out_channels).astype(np.float32), "b")
        )
        conv_inputs.append("b")
    nodes = [
        helper.make_node(
            "Conv",
            conv_inputs,
            ["c"],
            kernel_shape=list(kernel),
            strides=list(strides),
            pads=[pads[0], pads[1], pads[2], pads[3]],
            dilations=list(dilations),
            group=group,
        )
    ]
    out = "c"
    inputs = [tensor("x", [1, channels, h, w])]
    if epilogue == "residual_relu":
        out_h = (h + pads[0] + pads[2] - dilations[0] * (kernel[0] - 1) - 1) // strides[0] + 1
        out_w = (w + pads[1] + pads[3] - dilations[1] * (kernel[1] - 1) - 1) // strides[1] + 1
        inputs.append(tensor("skip", [1, out_channels, out_h, out_w]))
        nodes.append(helper.make_node("Add", ["c", "skip"], ["s"]))
        nodes.append(helper.make_node("Relu", ["s"], ["y"]))
        out = "y"
    elif epilogue == "relu":
        nodes.append(helper.make_node("Relu", ["c"], ["y"]))
        out = "y"
    return make_model(nodes, inputs, [tensor(out, None)], initializers)


def _check(model: onnx.ModelProto, tmp_path, threads: int, kernel_word: str) -> None:
    manifest = build_model(model, "host", str(tmp_path), log=quiet, threads=threads)
    kernels = [call["kernel"] for call in manifest["kernel_calls"]]
    assert any(kernel_word in k for k in kernels), kernels  # the rule's kernel was used
    inputs = random_inputs(model)
    outputs, _ = run_bundle(str(tmp_path), inputs)
    assert_close(outputs, reference_outputs(model, inputs), 1e-4)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv_matches_onnxruntime(case, threads, tmp_path):
    word = "depthwise" if CONVS[case][7] == CONVS[case][0] else "conv2d"
    _check(_conv_model(case, bias=True, epilogue="relu"), tmp_path, threads, word)


@pytest.mark.parametrize("epilogue", ["none", "residual_relu"])
@pytest.mark.parametrize("case", ["3x3_tails", "5x5_on_7x7", "depthwise_3x3"])
def test_conv_epilogues(case, epilogue, tmp_path):
    word = "depthwise" if CONVS[case][7] == CONVS[case][0] else "conv2d"
    _check(_conv_model(case, bias=epilogue == "none", epilogue=epilogue), tmp_path, 2, word)


# name: (channels, size (h, w), out channels, kernel, strides, pads, output_padding,
# dilations, group)
CONV_TRANSPOSES = {
    "4x4_stride2": (16, (9, 8), 8, (4, 4), (2, 2), (1, 1, 1, 1), (0, 0), (1, 1), 1),
    "3x3_stride2_output_padding": (6, (7, 6), 10, (3, 3), (2, 2), (1, 0, 1, 2), (1, 1), (1, 1), 1),
    "3x3_dilated_stride3": (4, (5, 6), 5, (3, 3), (3, 1), (2, 0, 1, 1), (0, 0), (2, 1), 1),
    "grouped_stride2": (8, (6, 6), 12, (3, 3), (2, 2), (0, 0, 0, 0), (0, 0), (1, 1), 4),
    "depthwise_stride2": (6, (8, 7), 6, (4, 4), (2, 2), (1, 1, 1, 1), (0, 0), (1, 1), 6),
    "kernel_below_stride": (5, (6, 5), 7, (2, 1), (3, 2), (0, 0, 1, 0), (2, 1), (1, 1), 1),
    "pads_of_whole_kernel": (4, (5, 6), 3, (3, 4), (2, 3), (2, 3, 1, 2), (1, 0), (1, 1), 1),
    "stride1_5x5": (8, (7, 9), 16, (5, 5), (1, 1), (2, 1, 0, 3), (0, 0), (1, 1), 1),
}


def _conv_transpose_model(case: str) -> onnx.ModelProto:
    channels, (h, w), out_channels, kernel, strides, pads, extra, dilations, group = (
        CONV_TRANSPOSES[case]
    )
    rng = np.random.default_rng(3)
    weights = rng.standard_normal((channels, out_channels // group, *kernel))
    bias = rng.standard_normal(out_channels)
    nodes = [
        helper.make_node(
            "ConvTranspose",
            ["x", "w", "b"],
            ["c"],
            strides=list(strides),
            pads=list(pads),
            output_padding=list(extra),
            dilations=list(dilations),
            group=group,
        ),
        helper.make_node("Relu", ["c"], ["y"]),
    ]
    initializers = [
        onnx.numpy_helper.from_array(a.astype(np.float32), n)
        for a, n in ((weights, "w"), (bias, "b"))
    ]
    return make_model(nodes, [tensor("x", [1, channels, h, w])], [tensor("y", None)], initializers)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", sorted(CONV_TRANSPOSES))
def test_conv_transpose_matches_onnxruntime(case, threads, tmp_path):
    """A 2-D ConvTranspose runs in the own convolution kernel, not Relax's."""
    depthwise = CONV_TRANSPOSES[case][8] == CONV_TRANSPOSES[case][0] == CONV_TRANSPOSES[case][2]
    model = _conv_transpose_model(case)
    _check(model, tmp_path, threads, "depthwise" if depthwise else "conv2d")
    kernels = [
        call["kernel"]
        for call in json.loads((tmp_path / "manifest.json").read_text())["kernel_calls"]
    ]
    assert not any("transpose" in k for k in kernels), kernels


def _dense_model(rows: int, depth: int, columns: int, op: str) -> onnx.ModelProto:
    rng = np.random.default_rng(2)
    if op == "MatMul":
        weights = rng.standard_normal((depth, columns)).astype(np.float32)
        nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
        initializers = [onnx.numpy_helper.from_array(weights, "w")]
    else:
        weights = rng.standard_normal((columns, depth)).astype(np.float32)
        bias = rng.standard_normal(columns).astype(np.float32)
        nodes = [
            helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1, alpha=0.5),
            helper.make_node("Relu", ["g"], ["y"]),
        ]
        initializers = [
            onnx.numpy_helper.from_array(a, n) for a, n in ((weights, "w"), (bias, "b"))
        ]
    return make_model(nodes, [tensor("x", [rows, depth])], [tensor("y", None)], initializers)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "rows,depth,columns,op",
    [(1, 100, 37, "Gemm"), (3, 64, 70, "Gemm"), (1, 1, 5, "MatMul"), (2, 33, 129, "MatMul")],
)
def test_dense_matches_onnxruntime(rows, depth, columns, op, threads, tmp_path):
    _check(_dense_model(rows, depth, columns, op), tmp_path, threads, "dense")


@pytest.mark.parametrize("case", sorted(CONVS))
@pytest.mark.parametrize("core", [Core(8, 32), Core(8, 16), Core(4, 16), Core(4, 32)])
def test_tiling_fits_the_registers(case, core):
    """The chosen tile's accumulators and operands fit the target's vector registers."""
    channels, (h, w), out_channels, kernel, strides, pads, dilations, group = CONVS[case]
    shape = conv2d.ConvShape(channels, h, w, out_channels, kernel, strides, dilations, pads, group)
    tiling = conv2d.choose_tiling(shape, core)
    if tiling.across_channels:
        vectors = tiling.mr // core.lanes
        assert vectors * core.lanes == tiling.mr and tiling.rows == 1
        registers = vectors * tiling.cols + min(vectors, tiling.cols) + 2
    else:
        assert tiling.cols == core.lanes
        registers = tiling.mr * tiling.rows + tiling.rows
    assert registers <= core.registers - 2
    if group > 1:
        assert (out_channels // group) % tiling.mr == 0
    json.dumps(tiling.__dict__)
