"""NaN, +Inf and -Inf go through every op as onnxruntime (or, where onnxruntime's answer
is an accident of its implementation, the op's definition) says, on the host and on ARM.

One model holds every op, fed one input with NaN, +Inf and -Inf among ordinary values,
placed so that pooling windows hold a NaN at different positions, a window and a Softmax
row are all -Inf, and convolution and dense outputs mix NaN and infinities before the
activations fused into deepxc's own kernels. A NaN must come out where the reference has
one, an infinity as the same infinity, the rest close.

Where the reference is not onnxruntime:
- MaxPool and GlobalMaxPool: onnxruntime keeps a NaN only at some positions of a window
  (its 2-D pool at the second of a 2x2 window, its 1-D and global pools at the last one)
  and gives the lowest float, not -Inf, for a padded window of -Inf and for a global
  max of -Inf. The ONNX reference is no better (its strided MaxPool keeps a NaN in first
  position only, its unstrided one skips NaN), except GlobalMaxPool, numpy's max, which
  propagates NaN. deepxc takes that rule for every max pool: a window holding a NaN
  gives NaN (as PyTorch's), and a window of -Inf gives -Inf.
- LRN: onnxruntime sums the squares over the channel window with a running sum, so a NaN
  or Inf leaks into channels whose window does not reach it; the reference is the
  definition, in numpy.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import quiet, reference_outputs
from test_arm import needs_arm_tools
from test_relax_ops import numpy_lrn

from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

SHAPE = (1, 4, 6, 6)
POOLS = {  # output: (kernel, strides, pads, dilations) of a MaxPool
    "maxpool": ([2, 2], [2, 2], [0, 0, 0, 0], [1, 1]),
    "maxpool_pads": ([3, 3], [2, 2], [1, 1, 1, 1], [1, 1]),
    "maxpool_dilated": ([2, 2], [1, 1], [0, 0, 0, 0], [2, 2]),
}


def special_input() -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    x[0, 0, 0, 1] = np.nan  # 2x2 window (0, 0): NaN second
    x[0, 0, 3, 3] = np.nan  # window (1, 1): NaN last
    x[0, 1, 2, 2] = np.nan  # window (1, 1): NaN first
    x[0, 0, 2, 0] = x[0, 1, 4, 5] = x[0, 3, 3, 1] = np.inf
    x[0, 1, 0, 0] = x[0, 0, 5, 5] = -np.inf
    x[0, 2, 4, 4], x[0, 2, 4, 5] = np.inf, np.nan  # +Inf and NaN in one window
    x[0, 3, 0:2, 0:2] = -np.inf  # a window of -Inf (and a padded one)
    x[0, 3, 5, :] = -np.inf  # a Softmax row of -Inf
    x[0, 1, 0, 3] = -0.0
    return x


def constant(name: str, value) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, np.float32), name)


def special_model() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    nodes = []

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))

    node("Reshape", ["x", "rows"], "x_flat")
    node("Reshape", ["x", "rows_3d"], "x_rows")
    node("Relu", ["x"], "relu")
    node("LeakyRelu", ["x"], "leaky_relu", alpha=0.1)
    node("Clip", ["x", "low", "high"], "clip")
    node("Clip", ["x"], "clip_unbounded")
    node("Sigmoid", ["x"], "sigmoid")
    node("Tanh", ["x"], "tanh")
    node("Softmax", ["x"], "softmax", axis=-1)
    node("LogSoftmax", ["x"], "log_softmax", axis=-1)
    for name, (kernel, strides, pads, dilations) in POOLS.items():
        node(
            "MaxPool",
            ["x"],
            name,
            kernel_shape=kernel,
            strides=strides,
            pads=pads,
            dilations=dilations,
        )
    node("MaxPool", ["x_rows"], "maxpool_1d", kernel_shape=[4], strides=[2])
    node("GlobalMaxPool", ["x"], "global_maxpool")
    node("AveragePool", ["x"], "avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    node(
        "AveragePool",
        ["x"],
        "avgpool_counting_pads",
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
        count_include_pad=1,
    )
    node("GlobalAveragePool", ["x"], "global_avgpool")
    node("Conv", ["x", "w", "b"], "conv")
    node("Relu", ["conv"], "conv_relu")
    node("Conv", ["x", "w_depthwise"], "depthwise", group=4, pads=[1, 1, 1, 1])
    node("Relu", ["depthwise"], "depthwise_relu")
    node("Conv", ["x", "w"], "conv6")
    node("Clip", ["conv6", "zero", "six"], "conv_relu6")
    node("Gemm", ["x_flat", "w_dense", "b_dense"], "gemm")
    node("Relu", ["gemm"], "gemm_relu")
    node("MatMul", ["x_flat", "w_dense"], "matmul")
    node("Add", ["matmul", "b_dense"], "matmul_add")
    node("Relu", ["matmul_add"], "matmul_relu")
    node("Add", ["x", "x"], "add")
    node("Relu", ["add"], "add_relu")
    node("BatchNormalization", ["x", "scale", "shift", "mean", "var"], "batchnorm")
    node("Relu", ["batchnorm"], "batchnorm_relu")
    node("Mul", ["x", "x"], "mul")
    node("Div", ["x", "x"], "div")
    node("Sub", ["x", "x"], "sub")
    node("Sum", ["x", "x", "x"], "sum")
    node("LRN", ["x"], "lrn", size=3)
    node("Pad", ["x", "pads"], "pad_reflect", mode="reflect")
    node("Transpose", ["x"], "transpose", perm=[0, 2, 3, 1])
    node("Concat", ["x", "relu"], "concat", axis=1)
    node("ReduceMax", ["x"], "reduce_max", axes=[-1])
    node("ReduceSum", ["x", "last_axis"], "reduce_sum", keepdims=0)
    node("ReduceMean", ["x"], "reduce_mean", axes=[-1])
    node("HardSigmoid", ["x"], "hard_sigmoid", alpha=0.4)
    node("HardSwish", ["x"], "hard_swish")
    node("LayerNormalization", ["x", "scale_row", "shift_row"], "layer_norm")
    node("Slice", ["x", "slice_start", "slice_end", "last_axis", "slice_step"], "slice")
    node("Expand", ["x_rows", "expand_shape"], "expand")
    node("Cast", ["x"], "cast", to=onnx.TensorProto.FLOAT)
    node("Sigmoid", ["cast"], "sigmoid_of_cast")
    node("Resize", ["x", "", "scales"], "resize_nearest")
    node("Resize", ["x", "", "scales"], "resize_linear", mode="linear")
    node("ConvTranspose", ["x", "w_transposed", "b"], "conv_transpose", strides=[2, 2])
    node("Relu", ["conv_transpose"], "conv_transpose_relu")
    hidden = (
        "x_flat",
        "x_rows",
        "conv",
        "depthwise",
        "conv6",
        "gemm",
        "matmul",
        "matmul_add",
        "add",
        "batchnorm",
        "conv_transpose",
    )
    outputs = [n.output[0] for n in nodes if n.output[0] not in hidden]
    weights = rng.standard_normal((5, 4, 1, 1)).astype(np.float32)
    constants = [
        constant("low", -0.5),
        constant("high", 0.5),
        constant("zero", 0.0),
        constant("six", 6.0),
        constant("w", weights),
        constant("b", rng.standard_normal(5)),
        constant("w_depthwise", rng.standard_normal((4, 1, 3, 3))),
        constant("w_transposed", rng.standard_normal((4, 5, 3, 3))),
        constant("scales", [1.0, 1.0, 2.0, 1.5]),
        constant("w_dense", rng.standard_normal((6, 7))),
        constant("b_dense", rng.standard_normal(7)),
        constant("scale", [1.0, 2.0, 0.5, 1.0]),
        constant("shift", [0.1, -0.2, 0.0, 0.3]),
        constant("mean", [0.0, 0.5, -0.5, 0.0]),
        constant("var", [1.0, 2.0, 0.5, 1.0]),
        numpy_helper.from_array(np.array([24, 6], np.int64), "rows"),
        numpy_helper.from_array(np.array([1, 24, 6], np.int64), "rows_3d"),
        numpy_helper.from_array(np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64), "pads"),
        numpy_helper.from_array(np.array([-1], np.int64), "last_axis"),
        constant("scale_row", rng.standard_normal(6)),
        constant("shift_row", rng.standard_normal(6)),
        numpy_helper.from_array(np.array([-2], np.int64), "slice_start"),
        numpy_helper.from_array(np.array([-100], np.int64), "slice_end"),
        numpy_helper.from_array(np.array([-1], np.int64), "slice_step"),
        numpy_helper.from_array(np.array([2, 24, 6], np.int64), "expand_shape"),
    ]
    return make_model(
        nodes, [tensor("x", list(SHAPE))], [tensor(name, None) for name in outputs], constants
    )


def numpy_max_pool(x, kernel, strides, pads, dilations) -> np.ndarray:
    """The max over each window's elements, NaN if one is NaN (np.max); pads never win."""
    rank = len(kernel)
    padded = np.pad(
        x,
        [(0, 0), (0, 0)] + [(pads[i], pads[rank + i]) for i in range(rank)],
        constant_values=-np.inf,
    )
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    out = [(padded.shape[2 + i] - spans[i]) // strides[i] + 1 for i in range(rank)]
    result = np.empty(x.shape[:2] + tuple(out), x.dtype)
    for position in np.ndindex(*out):
        window = padded[
            (Ellipsis,)
            + tuple(
                slice(p * s, p * s + span, d)
                for p, s, span, d in zip(position, strides, spans, dilations)
            )
        ]
        result[(Ellipsis, *position)] = np.max(window.reshape(*x.shape[:2], -1), axis=-1)
    return result


def expected_outputs(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    expected = reference_outputs(model, {"x": x})
    for name, (kernel, strides, pads, dilations) in POOLS.items():
        expected[name] = numpy_max_pool(x, kernel, strides, pads, dilations)
    expected["maxpool_1d"] = numpy_max_pool(x.reshape(1, 24, 6), [4], [2], [0, 0], [1])
    expected["global_maxpool"] = np.max(x, axis=(2, 3), keepdims=True)
    expected["reduce_max"] = np.max(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore"):  # Inf / Inf is NaN, as meant
        expected["lrn"] = numpy_lrn(3)({"x": x})["y"].astype(np.float32)
    return expected


@pytest.mark.parametrize(
    "target",
    [
        "host",
        pytest.param("tegra-k1", marks=needs_arm_tools),
        pytest.param("aarch64", marks=needs_arm_tools),
    ],
)
def test_specials_propagate_as_the_reference_says(target, tmp_path):
    model = special_model()
    x = special_input()
    build_model(model, target, str(tmp_path), log=quiet)
    outputs, _ = run_bundle(str(tmp_path), {"x": x})
    for name, expected in expected_outputs(model, x).items():
        # assert_allclose wants NaN where the reference has NaN and infinities equal
        np.testing.assert_allclose(outputs[name], expected, rtol=1e-4, atol=1e-5, err_msg=name)


def test_numpy_max_pool_is_onnxruntime_where_no_window_holds_nan():
    """The max pool reference differs from onnxruntime only in windows holding a NaN, and
    where onnxruntime gives the lowest float for a padded window of -Inf."""
    model, x = special_model(), special_input()
    x = np.where(np.isnan(x), np.float32(7.0), x)
    computed = reference_outputs(model, {"x": x})
    for name, expected in expected_outputs(model, x).items():
        if name in POOLS or name == "maxpool_1d":
            lowest = computed[name] == np.finfo(np.float32).min
            np.testing.assert_array_equal(np.where(lowest, -np.inf, computed[name]), expected)


def test_onnxruntime_keeps_a_pooled_nan_only_at_some_positions():
    """Why the max pools are not held against onnxruntime where a window holds a NaN."""
    model = make_model(
        [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        [tensor("x", [1, 1, 2, 2])],
        [tensor("y", None)],
    )
    kept = []
    for position in range(4):
        x = np.arange(1, 5, dtype=np.float32).reshape(1, 1, 2, 2)
        x.reshape(-1)[position] = np.nan
        kept.append(bool(np.isnan(reference_outputs(model, {"x": x})["y"]).all()))
    assert 0 < sum(kept) < 4, kept
