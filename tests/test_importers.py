"""Importers: what they refuse (one-line UnsupportedOp naming node and reason), the
defaults they fill in, and the rewrites they make (legacy broadcast)."""

from __future__ import annotations

import numpy as np
import pytest
from inprocess import frontend, run_graph
from models import make_model, tensor
from onnx import TensorProto, helper, numpy_helper

from deepxc.errors import InvalidGraph, UnsupportedOp
from deepxc.ingest.reader import import_model
from deepxc.lower.relax_builder import build_relax
from deepxc.targets import load_target

rng = np.random.default_rng(0)


def model_of(op, inputs, shapes, constants=None, outputs=("y",), unread=(), opset=17, **attrs):
    """One node named 'n' reading `inputs`: model inputs of `shapes`, then `constants`.
    It writes `outputs` (model outputs), then `unread` (outputs that nothing reads)."""
    return make_model(
        [helper.make_node(op, inputs, list(outputs) + list(unread), name="n", **attrs)],
        [tensor(name, list(shape)) for name, shape in shapes.items()],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (constants or {}).items()],
        opset=opset,
    )


def floats(*shape):
    return rng.standard_normal(shape).astype(np.float32)


X = {"x": (1, 3, 6, 6)}
STATS = {"s": floats(3), "b": floats(3), "m": floats(3), "v": np.ones(3, np.float32)}

REFUSED = {
    "cast_runtime_to_double": (
        make_model(
            [
                helper.make_node("Cast", ["x"], ["d"], name="n", to=TensorProto.DOUBLE),
                helper.make_node("Cast", ["d"], ["y"], name="back", to=TensorProto.FLOAT),
            ],
            [tensor("x", [2, 3])],
            [tensor("y", [2, 3])],
        ),
        "Cast: a cast of the run-time tensor 'x' from float32 to float64",
    ),
    "layer_norm_mean_output": (
        model_of("LayerNormalization", ["x", "s"], X, {"s": floats(6)}, outputs=("y", "mean")),
        "its optional output 'mean' is read by the model, and deepxc does not compute it",
    ),
    "layer_norm_inv_std_read": (
        make_model(
            [
                helper.make_node("LayerNormalization", ["x", "s"], ["y", "", "r"], name="n"),
                helper.make_node("Relu", ["r"], ["z"], name="relu"),
            ],
            [tensor("x", [2, 3])],
            [tensor("y", [2, 3]), tensor("z", [2, 1])],
            [numpy_helper.from_array(floats(3), "s")],
        ),
        "its optional output 'r' is read by node 'relu'",
    ),
    "dropout_mask_read": (
        make_model(
            [helper.make_node("Dropout", ["x"], ["y", "mask"], name="n")],
            [tensor("x", [2, 3])],
            [tensor("y", [2, 3]), tensor("mask", [2, 3], TensorProto.BOOL)],
        ),
        "its optional output 'mask' is read by the model",
    ),
    "conv_auto_pad": (
        model_of("Conv", ["x", "w"], X, {"w": floats(2, 3, 3, 3)}, auto_pad="FOO"),
        "Conv: auto_pad=FOO",
    ),
    "conv_4d": (
        model_of("Conv", ["x", "w"], {"x": (1, 1, 2, 2, 2, 2)}, {"w": floats(1, 1, 1, 1, 1, 1)}),
        "4-D data is not supported",
    ),
    "maxpool_indices": (
        model_of("MaxPool", ["x"], X, unread=["i"], kernel_shape=[2, 2]),
        "the Indices output is not supported",
    ),
    "lrn_size_zero": (model_of("LRN", ["x"], X, size=0), "size must be a positive integer"),
    "batchnorm_training": (
        model_of(
            "BatchNormalization", list("xsbmv"), X, STATS, unread=["rm", "rv"], training_mode=1
        ),
        "training_mode=1",
    ),
    "batchnorm_spatial0": (
        model_of(
            "BatchNormalization",
            list("xsbmv"),
            X,
            {k: np.ones((3, 6, 6), np.float32) for k in "sbmv"},
            opset=7,
            spatial=0,
        ),
        "spatial=0",
    ),
    "batchnorm_runtime_mean": (
        model_of(
            "BatchNormalization",
            list("xsbmv"),
            {**X, "m": (3,)},
            {k: v for k, v in STATS.items() if k != "m"},
        ),
        "mean (input 3) must be a constant",
    ),
    "clip_runtime_min": (
        model_of("Clip", ["x", "lo"], {**X, "lo": ()}),
        "min (input 1) must be a constant",
    ),
    "dropout_training": (
        model_of("Dropout", ["x", "r", "t"], X, {"r": np.float32(0.5), "t": np.bool_(True)}),
        "training mode",
    ),
    "pad_wrap": (
        model_of("Pad", ["x", "p"], X, {"p": np.ones(8, np.int64)}, opset=19, mode="wrap"),
        "mode=wrap (supported: constant, reflect, edge)",
    ),
    "pad_negative": (
        model_of("Pad", ["x", "p"], X, {"p": np.array([0, 0, -1, 0, 0, 0, 0, 0])}),
        "negative pads",
    ),
    "resize_tf_crop_and_resize": (
        model_of(
            "Resize",
            ["x", "r", "s"],
            X,
            {"r": np.float32([0, 0, 0, 0, 1, 1, 1, 1]), "s": np.float32([1, 1, 2, 2])},
            coordinate_transformation_mode="tf_crop_and_resize",
        ),
        "coordinate_transformation_mode=tf_crop_and_resize (supported: half_pixel,",
    ),
    "resize_3d_data": (
        model_of("Resize", ["x", "", "s"], {"x": (1, 2, 3)}, {"s": np.float32([1, 1, 2])}),
        "1-D data is not supported (only 2-D)",
    ),
    "resize_channels": (
        model_of("Resize", ["x", "", "s"], X, {"s": np.float32([1, 2, 1, 1])}),
        "only the two spatial axes (H, W) of NCHW data may change",
    ),
    "resize_antialias_down": (
        model_of(
            "Resize",
            ["x", "", "s"],
            X,
            {"s": np.float32([1, 1, 0.5, 0.5])},
            opset=18,
            mode="linear",
            antialias=1,
        ),
        "antialias=1 when downsizing",
    ),
    "resize_half_pixel_symmetric_nearest": (
        model_of(
            "Resize",
            ["x", "", "s"],
            X,
            {"s": np.float32([1, 1, 2, 2])},
            opset=19,
            coordinate_transformation_mode="half_pixel_symmetric",
        ),
        "half_pixel_symmetric with mode=nearest",
    ),
    "deconv_output_padding_past_stride": (
        model_of(
            "ConvTranspose",
            ["x", "w"],
            X,
            {"w": floats(3, 2, 3, 3)},
            strides=[2, 2],
            output_padding=[0, 2],
            dilations=[3, 3],
        ),
        "output_padding 2 on axis 3 is not below the stride 2",
    ),
    "deconv_pads_past_kernel": (
        model_of("ConvTranspose", ["x", "w"], X, {"w": floats(3, 2, 2, 2)}, pads=[2, 0, 0, 0]),
        "pads 2, 0 on axis 2 exceed the dilated kernel's extent 1",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_refused_with_one_line_reason(case):
    model, reason = REFUSED[case]
    with pytest.raises(UnsupportedOp) as error:
        build_relax(frontend(model), load_target("host").core)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("node '") and reason in message, message


@pytest.mark.parametrize("axes", [[1, 1], [5]])
def test_slice_axes_that_are_not_distinct_axes(axes):
    """ONNX's shape inference lets these through before opset 10; onnxruntime refuses them."""
    model = model_of(
        "Slice",
        ["x"],
        {"x": (2, 3, 4)},
        opset=9,
        starts=[0] * len(axes),
        ends=[1] * len(axes),
        axes=axes,
    )
    with pytest.raises(InvalidGraph, match=r"node 'n' \(Slice\): axes .* are not distinct axes"):
        build_relax(frontend(model), load_target("host").core)


@pytest.mark.parametrize(
    "auto_pad, pads",
    [("SAME_UPPER", [1, 1, 2, 1]), ("SAME_LOWER", [2, 1, 1, 1]), ("VALID", [0] * 4)],
)
def test_conv_defaults_and_auto_pad(auto_pad, pads):
    """Input 7x6, kernel 4x3, stride 2x1: SAME pads 3 rows and 2 columns in all; the odd
    row goes at the end (SAME_UPPER) or the beginning (SAME_LOWER)."""
    model = model_of(
        "Conv",
        ["x", "w"],
        {"x": (1, 3, 7, 6)},
        {"w": floats(2, 3, 4, 3)},
        auto_pad=auto_pad,
        strides=[2, 1],
    )
    node = import_model(model).node("n")
    assert node.attrs["pads"] == pads and node.attrs["auto_pad"] == "NOTSET"
    assert node.attrs["kernel_shape"] == [4, 3]
    assert node.attrs["dilations"] == [1, 1] and node.attrs["group"] == 1


def test_maxpool_storage_order_ignored_without_indices():
    model = model_of("MaxPool", ["x"], X, kernel_shape=[2, 2], storage_order=1)
    node = import_model(model).node("n")
    assert node.attrs["ceil_mode"] == 0 and "count_include_pad" not in node.attrs


def test_dropout_drops_unused_mask():
    model = model_of("Dropout", ["x"], X, unread=["mask"], opset=10)
    assert import_model(model).node("n").outputs == ["y"]


@pytest.mark.parametrize("b_constant", [True, False], ids=["constant_b", "computed_b"])
def test_legacy_broadcast_aligns_b_at_axis(b_constant):
    """Opset 6 Add with broadcast=1, axis=1: B (3,) lines up with A's axis 1, not the last."""
    a, b = floats(2, 3, 4, 5), floats(3)
    shapes = {"a": a.shape} if b_constant else {"a": a.shape, "b": b.shape}
    constants = {"b": b} if b_constant else {}
    model = model_of("Add", ["a", "b"], shapes, constants, opset=6, broadcast=1, axis=1)
    graph = frontend(model)
    assert [n.op for n in graph.nodes()] == (["Add"] if b_constant else ["Reshape", "Add"])
    assert "broadcast" not in graph.node("n").attrs
    inputs = {"a": a} if b_constant else {"a": a, "b": b}
    got = run_graph(graph, inputs)["y"]
    np.testing.assert_allclose(got, a + b.reshape(3, 1, 1), rtol=1e-6)


def test_legacy_broadcast_axis_that_does_not_fit():
    model = model_of(
        "Mul", ["a", "b"], {"a": (2, 3, 4)}, {"b": floats(3, 4)}, opset=6, broadcast=1, axis=2
    )
    with pytest.raises(UnsupportedOp, match="broadcast axis 2 does not fit B of rank 2"):
        import_model(model)


def test_gather_index_out_of_range():
    """Relax's take does not check indices at run time; the compiler must."""
    model = model_of("Gather", ["x", "i"], {"x": (5, 4)}, {"i": np.array([1, 5])})
    with pytest.raises(InvalidGraph, match="node 'n' \\(Gather\\): an index is out of range"):
        build_relax(frontend(model), load_target("host").core)


def test_conv_transpose_weights_that_do_not_fit():
    """ONNX's shape inference takes weights [2, ...] for 3 input channels; onnxruntime not."""
    model = model_of("ConvTranspose", ["x", "w"], X, {"w": floats(2, 2, 3, 3)})
    with pytest.raises(InvalidGraph) as error:
        import_model(model)
    assert str(error.value).startswith(
        "node 'n' (ConvTranspose): weights of shape [2, 2, 3, 3] do not fit 3 input channels"
    )
