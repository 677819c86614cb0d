"""Each op's Relax emitter against onnxruntime, on one-node (or few-node) models.

The models go through ingest, the passes and Relax, and run in process on TVM's virtual
machine (`inprocess.py`), so a wrong emitter fails here without the C backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
from inprocess import run_model
from models import make_model, tensor
from onnx import TensorProto, helper, numpy_helper
from support import assert_close, random_inputs, reference_outputs

rng = np.random.default_rng(0)


def weights(*shape) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def ints(*values) -> np.ndarray:
    return np.array(values, np.int64)


@dataclass
class Case:
    name: str
    nodes: list
    inputs: dict[str, tuple]  # model input name -> shape
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    opset: int = 17
    outputs: tuple[str, ...] = ("y",)
    reference: Callable | None = None  # inputs -> outputs, where onnxruntime refuses the case

    def model(self):
        return make_model(
            self.nodes,
            [tensor(name, list(shape)) for name, shape in self.inputs.items()],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in self.outputs],
            [numpy_helper.from_array(value, name) for name, value in self.constants.items()],
            opset=self.opset,
        )


def node(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name=f"{op.lower()}_node", **attrs)


def one(name, op, inputs, shapes, constants=None, opset=17, reference=None, **attrs):
    """A case of one node reading `inputs`: model inputs of `shapes`, then `constants`."""
    return Case(
        name, [node(op, inputs, **attrs)], shapes, constants or {}, opset, ("y",), reference
    )


def numpy_lrn(size, alpha=1e-4, beta=0.75, bias=1.0):
    """LRN as the ONNX spec words it, for any rank and size (onnxruntime: 4-D, odd size)."""

    def run(inputs):
        x = inputs["x"].astype(np.float64)
        before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
        square_sum = np.stack(
            [
                np.sum(x[:, max(0, c - before) : c + after + 1] ** 2, axis=1)
                for c in range(x.shape[1])
            ],
            axis=1,
        )
        return {"y": x / (bias + alpha / size * square_sum) ** beta}

    return run


X4 = {"x": (2, 3, 7, 6)}

CONV = [
    one(
        "conv_bias_pads_strides",
        "Conv",
        ["x", "w", "b"],
        X4,
        {"w": weights(4, 3, 3, 3), "b": weights(4)},
        pads=[1, 0, 2, 1],
        strides=[2, 1],
    ),
    one(
        "conv_no_bias_dilated", "Conv", ["x", "w"], X4, {"w": weights(5, 3, 2, 3)}, dilations=[2, 2]
    ),
    one(
        "conv_depthwise",
        "Conv",
        ["x", "w", "b"],
        X4,
        {"w": weights(6, 1, 3, 3), "b": weights(6)},
        group=3,
        pads=[1, 1, 1, 1],
    ),
    one(
        "conv_grouped", "Conv", ["x", "w"], {"x": (1, 4, 5, 5)}, {"w": weights(6, 2, 1, 1)}, group=2
    ),
    one(
        "conv_same_upper",
        "Conv",
        ["x", "w"],
        X4,
        {"w": weights(2, 3, 4, 3)},
        auto_pad="SAME_UPPER",
        strides=[2, 2],
    ),
    one(
        "conv_same_lower", "Conv", ["x", "w"], X4, {"w": weights(2, 3, 4, 3)}, auto_pad="SAME_LOWER"
    ),
    one("conv_valid", "Conv", ["x", "w"], X4, {"w": weights(2, 3, 3, 3)}, auto_pad="VALID"),
    one(
        "conv_1d",
        "Conv",
        ["x", "w", "b"],
        {"x": (2, 3, 9)},
        {"w": weights(4, 3, 3), "b": weights(4)},
        pads=[1, 2],
        strides=[2],
    ),
    one("conv_3d", "Conv", ["x", "w"], {"x": (1, 2, 4, 5, 3)}, {"w": weights(3, 2, 2, 2, 2)}),
    one("conv_weight_input", "Conv", ["x", "w"], {"x": (1, 2, 5, 5), "w": (3, 2, 3, 3)}),
]

DENSE = [
    one("gemm_plain", "Gemm", ["a", "b"], {"a": (3, 4)}, {"b": weights(4, 5)}),
    one(
        "gemm_transB_bias",
        "Gemm",
        ["a", "b", "c"],
        {"a": (3, 4)},
        {"b": weights(5, 4), "c": weights(5)},
        transB=1,
    ),
    one(
        "gemm_transA_alpha_beta",
        "Gemm",
        ["a", "b", "c"],
        {"a": (4, 3)},
        {"b": weights(4, 5), "c": weights(3, 1)},
        transA=1,
        alpha=0.5,
        beta=2.0,
    ),
    one(
        "gemm_scalar_c",
        "Gemm",
        ["a", "b", "c"],
        {"a": (3, 4)},
        {"b": weights(4, 5), "c": weights()},
        beta=-1.5,
    ),
    one(
        "gemm_zero_beta",
        "Gemm",
        ["a", "b", "c"],
        {"a": (3, 4)},
        {"b": weights(4, 5), "c": weights(3, 5)},
        beta=0.0,
    ),
    one(
        "gemm_all_inputs_transposed",
        "Gemm",
        ["a", "b", "c"],
        {"a": (4, 3), "b": (5, 4), "c": (3, 5)},
        transA=1,
        transB=1,
    ),
    one("matmul_2d", "MatMul", ["a", "b"], {"a": (3, 4)}, {"b": weights(4, 5)}),
    one("matmul_batched", "MatMul", ["a", "b"], {"a": (2, 3, 4), "b": (2, 4, 5)}),
    one("matmul_broadcast", "MatMul", ["a", "b"], {"a": (2, 1, 3, 4), "b": (3, 4, 5)}),
    one("matmul_vector_left", "MatMul", ["a", "b"], {"a": (4,), "b": (2, 4, 5)}),
    one("matmul_vector_right", "MatMul", ["a", "b"], {"a": (2, 3, 4), "b": (4,)}),
]

ELEMENTWISE = [
    one(f"{op.lower()}_broadcast", op, ["a", "b"], {"a": (2, 3, 4), "b": (3, 1)})
    for op in ("Add", "Sub", "Mul", "Div")
] + [
    one("hard_sigmoid_default", "HardSigmoid", ["x"], {"x": (3, 8)}),
    one("hard_sigmoid_alpha_beta", "HardSigmoid", ["x"], {"x": (3, 8)}, alpha=0.7, beta=0.1),
    one("hard_swish", "HardSwish", ["x"], {"x": (2, 3, 9)}),
    one("cast_float_to_float", "Cast", ["x"], {"x": (2, 3)}, to=TensorProto.FLOAT),
    Case(
        "cast_in_shape_arithmetic",
        [
            node("Shape", ["x"], ["s"]),
            helper.make_node("Cast", ["s"], ["f"], name="to_float", to=TensorProto.FLOAT),
            node("Mul", ["x", "f"], ["m"]),
            helper.make_node("Cast", ["f"], ["i"], name="to_int32", to=TensorProto.INT32),
            helper.make_node("Cast", ["i"], ["t"], name="to_int64", to=TensorProto.INT64),
            node("Reshape", ["m", "t"], ["r"]),
            helper.make_node("Cast", ["r"], ["y"], name="float_to_float", to=TensorProto.FLOAT),
        ],
        {"x": (2, 3, 5, 4)},
    ),
    one("add_constant", "Add", ["a", "b"], {"a": (2, 3)}, {"b": weights(3)}),
    one("sum_one", "Sum", ["a"], {"a": (2, 3)}),
    one("sum_three", "Sum", ["a", "b", "c"], {"a": (2, 3), "b": (1, 3), "c": (2, 1)}),
    one("relu", "Relu", ["x"], {"x": (2, 5)}),
    one("sigmoid", "Sigmoid", ["x"], {"x": (2, 5)}),
    one("tanh", "Tanh", ["x"], {"x": (2, 5)}),
    one("leaky_relu_default", "LeakyRelu", ["x"], {"x": (2, 5)}),
    one("leaky_relu_alpha", "LeakyRelu", ["x"], {"x": (2, 5)}, alpha=0.3),
    one("clip_opset6_attrs", "Clip", ["x"], {"x": (3, 4)}, opset=6, min=-0.5, max=0.7),
    one("clip_opset6_default", "Clip", ["x"], {"x": (3, 4)}, opset=6),
    one(
        "clip_min_max",
        "Clip",
        ["x", "lo", "hi"],
        {"x": (3, 4)},
        {"lo": np.float32(-0.3), "hi": np.float32(0.4)},
    ),
    one("clip_max_only", "Clip", ["x", "", "hi"], {"x": (3, 4)}, {"hi": np.float32(0.1)}),
    one("clip_min_only", "Clip", ["x", "lo"], {"x": (3, 4)}, {"lo": np.float32(0.2)}),
    one(
        "clip_min_above_max",
        "Clip",
        ["x", "lo", "hi"],
        {"x": (3, 4)},
        {"lo": np.float32(1.0), "hi": np.float32(-1.0)},
    ),
]

NORMALIZATION = [
    one(
        "layer_norm_default",
        "LayerNormalization",
        ["x", "s", "b"],
        X4,
        {"s": weights(6), "b": weights(6)},
    ),
    one(
        "layer_norm_axis1_broadcast_scale_no_bias",
        "LayerNormalization",
        ["x", "s"],
        X4,
        {"s": weights(7, 1)},
        axis=1,
        epsilon=1e-2,
    ),
    one(
        "layer_norm_runtime_scale",
        "LayerNormalization",
        ["x", "s"],
        {"x": (4, 5), "s": (5,)},
        axis=-1,
    ),
    Case(
        "layer_norm_unread_statistics",
        [node("LayerNormalization", ["x", "s"], ["y", "mean", "inv_std"], axis=-2)],
        {"x": (2, 3, 4)},
        {"s": weights(3, 4)},
    ),
    one("softmax_opset11_axis1", "Softmax", ["x"], {"x": (2, 3, 4)}, opset=11),
    one("softmax_opset11_axis0", "Softmax", ["x"], {"x": (2, 3, 4)}, opset=11, axis=0),
    one("softmax_opset13_axis1", "Softmax", ["x"], {"x": (2, 3, 4)}, axis=1),
    one("softmax_opset13_default", "Softmax", ["x"], {"x": (2, 3, 4)}),
    one(
        "log_softmax_opset11_negative_axis",
        "LogSoftmax",
        ["x"],
        {"x": (2, 3, 4)},
        opset=11,
        axis=-2,
    ),
    one("log_softmax_opset13", "LogSoftmax", ["x"], {"x": (2, 3, 4)}, axis=0),
    one(
        "batchnorm_4d",
        "BatchNormalization",
        ["x", "s", "b", "m", "v"],
        X4,
        {"s": weights(3), "b": weights(3), "m": weights(3), "v": np.float32([0.5, 1, 2])},
        epsilon=1e-3,
    ),
    one(
        "batchnorm_2d",
        "BatchNormalization",
        ["x", "s", "b", "m", "v"],
        {"x": (4, 3)},
        {"s": weights(3), "b": weights(3), "m": weights(3), "v": np.float32([0.5, 1, 2])},
    ),
    one(
        "batchnorm_opset7",
        "BatchNormalization",
        ["x", "s", "b", "m", "v"],
        X4,
        {"s": weights(3), "b": weights(3), "m": weights(3), "v": np.float32([0.5, 1, 2])},
        opset=7,
    ),
    one("lrn_odd", "LRN", ["x"], {"x": (2, 6, 3, 4)}, size=3),
    one(
        "lrn_even_params",
        "LRN",
        ["x"],
        {"x": (1, 5, 3, 3)},
        reference=numpy_lrn(4, 0.01, 0.5, 2.0),
        size=4,
        alpha=0.01,
        beta=0.5,
        bias=2.0,
    ),
    one("lrn_3d_input", "LRN", ["x"], {"x": (2, 5, 4)}, reference=numpy_lrn(5), size=5),
]

POOL = [
    one("reduce_mean_opset13_attr", "ReduceMean", ["x"], X4, opset=13, axes=[1, -1]),
    one(
        "reduce_mean_opset18_input",
        "ReduceMean",
        ["x", "a"],
        X4,
        {"a": ints(2)},
        opset=18,
        keepdims=0,
    ),
    one("reduce_mean_all", "ReduceMean", ["x"], X4, opset=18, keepdims=0),
    one(
        "reduce_mean_empty_axes_noop",
        "ReduceMean",
        ["x", "a"],
        X4,
        {"a": np.zeros(0, np.int64)},
        opset=18,
        noop_with_empty_axes=1,
    ),
    one("reduce_sum_opset11_attr", "ReduceSum", ["x"], X4, opset=11, axes=[2], keepdims=0),
    one("reduce_sum_opset13_input", "ReduceSum", ["x", "a"], X4, {"a": ints(-1, 0)}, opset=13),
    one("reduce_sum_all_scalar", "ReduceSum", ["x"], X4, keepdims=0),
    one("reduce_sum_noop", "ReduceSum", ["x"], X4, noop_with_empty_axes=1),
    one("reduce_max_opset13_attr", "ReduceMax", ["x"], X4, opset=13, axes=[3, 1], keepdims=0),
    one("reduce_max_opset18_input", "ReduceMax", ["x", "a"], X4, {"a": ints(-2)}, opset=18),
    one("reduce_max_all", "ReduceMax", ["x"], X4, opset=18),
    one("reduce_mean_axis_twice", "ReduceMean", ["x"], X4, opset=13, axes=[1, -3]),
    one(
        "maxpool_pads_strides",
        "MaxPool",
        ["x"],
        X4,
        kernel_shape=[3, 2],
        strides=[2, 1],
        pads=[1, 0, 1, 1],
    ),
    one("maxpool_ceil", "MaxPool", ["x"], X4, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    one("maxpool_dilations", "MaxPool", ["x"], X4, kernel_shape=[2, 2], dilations=[2, 2]),
    one(
        "maxpool_same_upper",
        "MaxPool",
        ["x"],
        X4,
        kernel_shape=[3, 3],
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
    one("maxpool_1d", "MaxPool", ["x"], {"x": (2, 3, 9)}, kernel_shape=[3], strides=[2]),
    one("maxpool_3d", "MaxPool", ["x"], {"x": (1, 2, 4, 4, 4)}, kernel_shape=[2, 2, 2]),
    one("avgpool_exclude_pad", "AveragePool", ["x"], X4, kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    one(
        "avgpool_include_pad",
        "AveragePool",
        ["x"],
        X4,
        kernel_shape=[3, 3],
        pads=[1, 1, 1, 1],
        count_include_pad=1,
    ),
    one("avgpool_ceil", "AveragePool", ["x"], X4, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    one("avgpool_same_lower", "AveragePool", ["x"], X4, kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
    one("avgpool_1d", "AveragePool", ["x"], {"x": (2, 3, 9)}, kernel_shape=[2]),
    one("global_avgpool", "GlobalAveragePool", ["x"], X4),
    one("global_maxpool", "GlobalMaxPool", ["x"], X4),
    one("global_avgpool_1d", "GlobalAveragePool", ["x"], {"x": (2, 3, 5)}),
]

SHAPE = [
    one("expand_rank_up", "Expand", ["x", "s"], {"x": (3, 1)}, {"s": ints(2, 3, 4)}),
    one("expand_bidirectional", "Expand", ["x", "s"], {"x": (1, 3, 1)}, {"s": ints(4, 1, 5)}),
    one("expand_to_smaller_shape", "Expand", ["x", "s"], {"x": (2, 3, 4)}, {"s": ints(1, 4)}),
    one(
        "slice_axes",
        "Slice",
        ["x", "b", "e", "a"],
        X4,
        {"b": ints(1, 0), "e": ints(3, 5), "a": ints(2, 3)},
    ),
    one("slice_default_axes", "Slice", ["x", "b", "e"], X4, {"b": ints(0, 1), "e": ints(1, 3)}),
    one(
        "slice_negative_indices_and_steps",
        "Slice",
        ["x", "b", "e", "a", "t"],
        X4,
        {"b": ints(-1, 5), "e": ints(-100, 0), "a": ints(-2, 3), "t": ints(-2, -2)},
    ),
    one(
        "slice_clamped_ends_and_step",
        "Slice",
        ["x", "b", "e", "a", "t"],
        X4,
        {
            "b": ints(-100, 1),
            "e": ints(np.iinfo(np.int64).max, 100),
            "a": ints(1, 2),
            "t": ints(1, 3),
        },
    ),
    one(
        "slice_reverse_whole_axis",
        "Slice",
        ["x", "b", "e", "a", "t"],
        X4,
        {
            "b": ints(np.iinfo(np.int64).max),
            "e": ints(np.iinfo(np.int64).min),
            "a": ints(1),
            "t": ints(-1),
        },
    ),
    one(
        "slice_opset9_attrs",
        "Slice",
        ["x"],
        X4,
        opset=9,
        starts=[1, -3],
        ends=[2, 1000],
        axes=[0, 3],
    ),
    one(
        "slice_opset1_default_axes",
        "Slice",
        ["x"],
        {"x": (5, 4)},
        opset=1,
        starts=[1, 0],
        ends=[-1, 3],
    ),
    one("flatten_default", "Flatten", ["x"], X4),
    one("flatten_axis0", "Flatten", ["x"], X4, axis=0),
    one("flatten_negative_axis", "Flatten", ["x"], X4, axis=-1),
    one("reshape_zero_minus_one", "Reshape", ["x", "s"], X4, {"s": ints(0, -1, 6)}),
    one("reshape_allowzero", "Reshape", ["x", "s"], X4, {"s": ints(6, 7, 6)}, allowzero=1),
    one("transpose_default", "Transpose", ["x"], X4),
    one("transpose_perm", "Transpose", ["x"], X4, perm=[0, 2, 3, 1]),
    one("squeeze_opset11", "Squeeze", ["x"], {"x": (1, 3, 1, 2)}, opset=11, axes=[0, -2]),
    one("squeeze_opset13", "Squeeze", ["x", "a"], {"x": (1, 3, 1, 2)}, {"a": ints(2)}),
    one("squeeze_all", "Squeeze", ["x"], {"x": (1, 3, 1, 2)}),
    one("unsqueeze_opset11", "Unsqueeze", ["x"], {"x": (3, 2)}, opset=11, axes=[0, 3]),
    one("unsqueeze_opset13", "Unsqueeze", ["x", "a"], {"x": (3, 2)}, {"a": ints(-1, 1)}),
    one(
        "concat",
        "Concat",
        ["a", "b", "c"],
        {"a": (2, 1, 3), "b": (2, 4, 3)},
        {"c": weights(2, 2, 3)},
        axis=1,
    ),
    one("concat_negative_axis", "Concat", ["a", "b"], {"a": (2, 3), "b": (2, 2)}, axis=-1),
    Case(
        "split_opset11_attr",
        [node("Split", ["x"], ["y", "z"], axis=1, split=[1, 2])],
        {"x": (2, 3, 4)},
        opset=11,
        outputs=("y", "z"),
    ),
    Case(
        "split_opset13_input",
        [node("Split", ["x", "s"], ["y", "z", "w"], axis=-1)],
        {"x": (2, 3, 5)},
        {"s": ints(1, 3, 1)},
        outputs=("y", "z", "w"),
    ),
    Case(
        "split_equal",
        [node("Split", ["x"], ["y", "z"])],
        {"x": (4, 3)},
        opset=13,
        outputs=("y", "z"),
    ),
    Case(
        "split_num_outputs_uneven",
        [node("Split", ["x"], ["y", "z", "w"], num_outputs=3)],
        {"x": (7, 2)},
        opset=18,
        outputs=("y", "z", "w"),
    ),
    one("pad_opset2_attrs", "Pad", ["x"], {"x": (2, 3)}, opset=2, pads=[0, 1, 1, 2], value=1.5),
    one(
        "pad_constant_value",
        "Pad",
        ["x", "p", "v"],
        X4,
        {"p": ints(0, 0, 1, 2, 0, 0, 2, 0), "v": np.float32(-2.0)},
    ),
    one("pad_reflect", "Pad", ["x", "p"], X4, {"p": ints(0, 0, 2, 1, 0, 0, 1, 2)}, mode="reflect"),
    one("pad_edge", "Pad", ["x", "p"], X4, {"p": ints(0, 1, 2, 1, 0, 0, 1, 3)}, mode="edge"),
    one(
        "pad_axes_opset18",
        "Pad",
        ["x", "p", "", "a"],
        X4,
        {"p": ints(1, 2, 3, 0), "a": ints(-1, 1)},
        opset=18,
    ),
    one("gather_runtime_data", "Gather", ["x", "i"], {"x": (5, 4)}, {"i": ints(4, -1, 0)}),
    one(
        "gather_axis1_matrix_indices",
        "Gather",
        ["x", "i"],
        {"x": (2, 5, 3)},
        {"i": np.array([[0, 2], [4, 1]], np.int64)},
        axis=1,
    ),
    one(
        "gather_scalar_index",
        "Gather",
        ["x", "i"],
        {"x": (2, 5, 3)},
        {"i": np.array(3, np.int64)},
        axis=1,
    ),
    one("identity", "Identity", ["x"], {"x": (2, 3)}),
    Case(
        "dropout_unused_mask",
        [node("Dropout", ["x"], ["y", "mask"], ratio=0.3)],
        {"x": (2, 3)},
        opset=10,
    ),
]


def floats(*values) -> np.ndarray:
    return np.array(values, np.float32)


NO_ROI = np.zeros(0, np.float32)  # opsets 11 and 12 want roi and scales, maybe empty
X_RESIZE = {"x": (2, 3, 4, 6)}

RESIZE = [
    one(
        "resize_opset10_nearest",
        "Resize",
        ["x", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 2, 1.5)},
        opset=10,
    ),
    one(
        "resize_opset10_linear_down",
        "Resize",
        ["x", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 0.5, 0.5)},
        opset=10,
        mode="linear",
    ),
    one("upsample_opset9", "Upsample", ["x", "s"], X_RESIZE, {"s": floats(1, 1, 2, 3)}, opset=9),
    one(
        "upsample_opset7_scales_attr",
        "Upsample",
        ["x"],
        X_RESIZE,
        opset=7,
        mode="linear",
        scales=[1.0, 1.0, 2.0, 2.0],
    ),
    one(
        "resize_opset11_linear_align_corners_sizes",
        "Resize",
        ["x", "r", "s", "z"],
        X_RESIZE,
        {"r": NO_ROI, "s": NO_ROI, "z": ints(2, 3, 7, 5)},
        opset=11,
        mode="linear",
        coordinate_transformation_mode="align_corners",
    ),
    one(
        "resize_opset11_tf_half_pixel_for_nn",
        "Resize",
        ["x", "r", "s"],
        X_RESIZE,
        {"r": NO_ROI, "s": floats(1, 1, 1.5, 0.5)},
        opset=11,
        coordinate_transformation_mode="tf_half_pixel_for_nn",
    ),
    one(
        "resize_nearest_asymmetric_floor",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 2, 2)},
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    ),
    one(
        "resize_nearest_half_pixel_default",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 7, 9)},
    ),
    one(
        "resize_nearest_round_prefer_ceil",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 6, 9)},
        nearest_mode="round_prefer_ceil",
    ),
    one(
        "resize_nearest_ceil_down",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 3, 4)},
        nearest_mode="ceil",
    ),
    one(
        "resize_linear_half_pixel_down",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 0.5, 0.5)},
        mode="linear",
    ),
    one(
        "resize_linear_pytorch_half_pixel_to_one",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 1, 8)},
        mode="linear",
        coordinate_transformation_mode="pytorch_half_pixel",
    ),
    one(
        "resize_linear_align_corners_to_one",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 1, 7)},
        mode="linear",
        coordinate_transformation_mode="align_corners",
    ),
    one(
        "resize_nearest_align_corners_to_one_by_one",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 1, 1)},
        coordinate_transformation_mode="align_corners",
    ),
    one(
        "resize_opset10_nearest_down_rounds_up",
        "Resize",
        ["x", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 0.75, 0.5)},
        opset=10,
    ),
    one(
        "resize_nearest_scale_of_no_whole_size",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 1.3, 0.7)},
    ),
    one(
        "resize_linear_scale_of_no_whole_size",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 0.6, 1.7)},
        mode="linear",
    ),
    one(
        "resize_cubic_scale_of_no_whole_size_align_corners",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 2.4, 0.8)},
        mode="cubic",
        coordinate_transformation_mode="align_corners",
    ),
    one(
        "resize_keep_aspect_ratio_not_larger",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(7, 7)},
        opset=18,
        mode="linear",
        axes=[2, 3],
        keep_aspect_ratio_policy="not_larger",
    ),
    one(
        "resize_keep_aspect_ratio_not_smaller",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(7, 7)},
        opset=18,
        axes=[2, 3],
        keep_aspect_ratio_policy="not_smaller",
    ),
    one(
        "resize_half_pixel_symmetric_linear",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 1.5, 0.7)},
        opset=19,
        mode="linear",
        coordinate_transformation_mode="half_pixel_symmetric",
    ),
    one(
        "resize_tf_half_pixel_for_nn_linear",
        "Resize",
        ["x", "r", "s"],
        X_RESIZE,
        {"r": NO_ROI, "s": floats(1, 1, 2, 0.75)},
        opset=11,
        mode="linear",
        coordinate_transformation_mode="tf_half_pixel_for_nn",
    ),
    one(
        "resize_opset18_axes",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(3, 0.5)},
        opset=18,
        mode="linear",
        axes=[-2, -1],
    ),
    one(
        "resize_opset19_cubic",
        "Resize",
        ["x", "", "s"],
        X_RESIZE,
        {"s": floats(1, 1, 2, 2)},
        opset=19,
        mode="cubic",
    ),
    one(
        "resize_cubic_exclude_outside",
        "Resize",
        ["x", "", "", "z"],
        X_RESIZE,
        {"z": ints(2, 3, 5, 3)},
        mode="cubic",
        cubic_coeff_a=-0.5,
        exclude_outside=1,
    ),
]

X_DECONV = {"x": (2, 4, 5, 4)}

CONV_TRANSPOSE = [
    one("deconv_plain", "ConvTranspose", ["x", "w"], X_DECONV, {"w": weights(4, 3, 3, 3)}),
    one(
        "deconv_stride_pads_bias",
        "ConvTranspose",
        ["x", "w", "b"],
        X_DECONV,
        {"w": weights(4, 3, 3, 2), "b": weights(3)},
        strides=[2, 3],
        pads=[1, 0, 2, 1],
    ),
    one(
        "deconv_output_padding_dilations",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 2, 3, 3)},
        strides=[3, 2],
        output_padding=[2, 1],
        dilations=[2, 1],
    ),
    one(
        "deconv_grouped",
        "ConvTranspose",
        ["x", "w", "b"],
        X_DECONV,
        {"w": weights(4, 3, 2, 2), "b": weights(6)},
        group=2,
        strides=[2, 2],
    ),
    one(
        "deconv_depthwise",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 1, 4, 4)},
        group=4,
        strides=[2, 2],
        pads=[1, 1, 1, 1],
    ),
    one(
        "deconv_output_shape",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 3, 3, 3)},
        strides=[2, 2],
        output_shape=[10, 8],
    ),
    one(
        "deconv_output_shape_past_full_size",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 3, 3, 3)},
        strides=[3, 3],
        output_shape=[15, 12],
    ),
    one(
        "deconv_same_upper",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 3, 4, 3)},
        strides=[2, 2],
        auto_pad="SAME_UPPER",
    ),
    one(
        "deconv_same_lower",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 3, 4, 3)},
        strides=[2, 2],
        auto_pad="SAME_LOWER",
    ),
    one(
        "deconv_valid",
        "ConvTranspose",
        ["x", "w"],
        X_DECONV,
        {"w": weights(4, 3, 3, 3)},
        strides=[2, 2],
        auto_pad="VALID",
    ),
    one(
        "deconv_1d",
        "ConvTranspose",
        ["x", "w", "b"],
        {"x": (2, 3, 7)},
        {"w": weights(3, 5, 3), "b": weights(5)},
        strides=[2],
        pads=[1, 0],
    ),
    one(
        "deconv_3d",
        "ConvTranspose",
        ["x", "w"],
        {"x": (1, 2, 3, 4, 3)},
        {"w": weights(2, 3, 2, 3, 2)},
        strides=[2, 1, 2],
        pads=[0, 1, 1, 1, 0, 0],
    ),
    one(
        "deconv_weight_input",
        "ConvTranspose",
        ["x", "w"],
        {"x": (1, 2, 4, 4), "w": (2, 3, 3, 3)},
        strides=[2, 2],
    ),
]

CONSTANTS = [
    Case(
        "constant_feeds_add",
        [
            node("Constant", [], ["c"], value=numpy_helper.from_array(weights(3), "c")),
            node("Add", ["x", "c"]),
        ],
        {"x": (2, 3)},
    ),
    Case(
        "constant_of_shape_of_input",
        [
            node("Shape", ["x"], ["s"]),
            node(
                "ConstantOfShape",
                ["s"],
                ["f"],
                value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.25]),
            ),
            node("Mul", ["x", "f"]),
        ],
        {"x": (2, 3)},
    ),
    Case(
        "gather_of_shape_reshape",
        [
            node("Shape", ["x"], ["s"]),
            node("Gather", ["s", "i"], ["n"], axis=0),
            node("Concat", ["n", "m"], ["t"], axis=0),
            node("Reshape", ["x", "t"]),
        ],
        {"x": (2, 3, 4)},
        {"i": ints(0), "m": ints(-1)},
    ),
    Case(
        "constant_output",
        [node("Constant", [], ["y"], value=numpy_helper.from_array(weights(2, 2), "y"))],
        {},
    ),
]

CASES = (
    CONV + DENSE + ELEMENTWISE + NORMALIZATION + POOL + SHAPE + CONSTANTS + RESIZE + CONV_TRANSPOSE
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_op_matches_onnxruntime(case):
    model = case.model()
    inputs = random_inputs(model)
    reference = case.reference or (lambda values: reference_outputs(model, values))
    expected = reference(inputs)
    assert_close(run_model(model, inputs), expected, tolerance=1e-5)
