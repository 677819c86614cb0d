"""Shape arithmetic folds at build time: exporters compute reshape targets and resize sizes
from Shape with Gather, Unsqueeze, Concat, int64 Add/Sub/Mul/Div, Cast, Floor and
ConstantOfShape. With static input shapes every such chain becomes a constant before
lowering, so only the data ops remain; each model is also built for the host and checked
against onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from inprocess import frontend
from models import make_model, tensor
from onnx import TensorProto, helper, numpy_helper
from support import check_model

from deepxc.errors import UnsupportedOps

rng = np.random.default_rng(0)


def ints(name, value):
    return numpy_helper.from_array(np.array(value, np.int64), name)


def floats(name, *shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)


def node(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, name=f"{outputs[0]}_{op.lower()}", **attrs)


def ops(model):
    return [n.op for n in frontend(model).nodes()]


def view_batch_minus_one() -> onnx.ModelProto:
    """PyTorch's x.view(x.size(0), -1) after a convolution, then a dense layer."""
    return make_model(
        [
            node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            node("Shape", ["c"], ["s"]),
            node("Gather", ["s", "zero"], ["n"], axis=0),
            node("Unsqueeze", ["n", "axes"], ["n1"]),
            node("Concat", ["n1", "minus_one"], ["target"], axis=0),
            node("Reshape", ["c", "target"], ["flat"]),
            node("Gemm", ["flat", "fc"], ["y"], transB=1),
        ],
        [tensor("x", [2, 3, 5, 5])],
        [tensor("y", None)],
        [
            floats("w", 4, 3, 3, 3),
            floats("fc", 6, 100),
            ints("zero", 0),
            ints("axes", [0]),
            ints("minus_one", [-1]),
        ],
    )


def arithmetic_chain() -> onnx.ModelProto:
    """reshape(x, [N, C / 2, -1]) with C / 2 computed through Div, Cast, Mul, Cast, Sub,
    Squeeze; then a ConstantOfShape of the result's shape scales it. ONNX's own shape
    inference stops at Div, so the shapes after the Reshape come from the folded values."""
    int64 = TensorProto.INT64
    return make_model(
        [
            node("Relu", ["x"], ["r"]),
            node("Shape", ["r"], ["s"]),
            node("Gather", ["s", "zero"], ["n"], axis=0),
            node("Gather", ["s", "one"], ["c"], axis=0),
            node("Div", ["c", "two"], ["half"]),
            node("Cast", ["half"], ["half_f"], to=TensorProto.FLOAT),
            node("Mul", ["half_f", "one_f"], ["half_f1"]),
            node("Cast", ["half_f1"], ["half_i"], to=int64),
            node("Sub", ["half_i", "zero"], ["half_i0"]),
            node("Unsqueeze", ["n", "axes"], ["n1"]),
            node("Unsqueeze", ["half_i0", "axes"], ["h1"]),
            node("Concat", ["n1", "h1", "minus_one"], ["target"], axis=0),
            node("Squeeze", ["target"], ["target1"]),
            node("Reshape", ["r", "target1"], ["t"]),
            node("Shape", ["t"], ["ts"]),
            node(
                "ConstantOfShape",
                ["ts"],
                ["twos"],
                value=numpy_helper.from_array(np.array([2.0], np.float32)),
            ),
            node("Mul", ["t", "twos"], ["y"]),
        ],
        [tensor("x", [2, 4, 3, 3])],
        [tensor("y", None)],
        [
            ints("zero", 0),
            ints("one", 1),
            ints("two", 2),
            numpy_helper.from_array(np.float32(1.0), "one_f"),
            ints("axes", [0]),
            ints("minus_one", [-1]),
        ],
    )


def resize_sizes_from_shape() -> onnx.ModelProto:
    """An older interpolate export: sizes = [N, C] ++ cast(floor(cast(H, W) * 2))."""
    return make_model(
        [
            node("Shape", ["x"], ["s"]),
            node("Gather", ["s", "nc"], ["batch_channels"], axis=0),
            node("Gather", ["s", "hw"], ["spatial"], axis=0),
            node("Cast", ["spatial"], ["spatial_f"], to=TensorProto.FLOAT),
            node("Mul", ["spatial_f", "scale"], ["scaled"]),
            node("Floor", ["scaled"], ["floored"]),
            node("Cast", ["floored"], ["sizes_hw"], to=TensorProto.INT64),
            node("Concat", ["batch_channels", "sizes_hw"], ["sizes"], axis=0),
            node("Resize", ["x", "", "", "sizes"], ["up"], mode="linear"),
            node("Shape", ["up"], ["up_shape"], start=-2),
            node("Cast", ["up_shape"], ["up_hw"], to=TensorProto.FLOAT),
            node("ReduceProd", ["up_hw"], ["area"], keepdims=0),
            node("Div", ["up", "area"], ["y"]),
        ],
        [tensor("x", [1, 2, 3, 4])],
        [tensor("y", None)],
        [
            ints("nc", [0, 1]),
            ints("hw", [2, 3]),
            numpy_helper.from_array(np.array([2.0, 1.5], np.float32), "scale"),
        ],
    )


@pytest.mark.parametrize(
    "make, remaining",
    [
        (view_batch_minus_one, ["Conv", "Reshape", "Gemm"]),
        (arithmetic_chain, ["Relu", "Reshape", "Mul"]),
        (resize_sizes_from_shape, ["Resize", "Div"]),
    ],
    ids=["view_batch_minus_one", "arithmetic_chain", "resize_sizes_from_shape"],
)
def test_shape_arithmetic_folds_and_matches_onnxruntime(make, remaining, tmp_path):
    model = make()
    graph = frontend(model)
    assert [n.op for n in graph.nodes()] == remaining
    for n in graph.nodes():
        assert all(graph.is_constant(t) for t in n.inputs[1:] if t), n  # only data flows
    check_model(model, tmp_path)


def test_folded_values():
    graph = frontend(arithmetic_chain())
    np.testing.assert_array_equal(graph.constants["target1"], [2, 2, -1])
    assert graph.spec("t").shape == (2, 2, 18)
    graph = frontend(resize_sizes_from_shape())
    np.testing.assert_array_equal(graph.constants["sizes"], [1, 2, 6, 6])
    assert graph.constants["area"] == 36


def test_random_ops_are_not_folded():
    """A random op of constant inputs draws anew at each run: it is no constant."""
    model = make_model(
        [node("RandomNormalLike", ["c"], ["noise"]), node("Add", ["x", "noise"], ["y"])],
        [tensor("x", [2, 3])],
        [tensor("y", None)],
        [floats("c", 2, 3)],
    )
    with pytest.raises(UnsupportedOps, match=r"RandomNormalLike \(node 'noise_randomnormallike'\)"):
        frontend(model)


def test_torch_export_of_a_small_cnn(tmp_path):
    """A real PyTorch export: view, flatten and interpolate in one small CNN."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class SmallCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):
            y = torch.relu(self.conv(x))
            y = nn.functional.interpolate(y, scale_factor=2.0, mode="bilinear")
            y = y.view(y.size(0), y.size(1), -1).flatten(1)
            return self.fc(y)

    path = tmp_path / "small_cnn.onnx"
    torch.onnx.export(SmallCnn().eval(), torch.randn(1, 3, 4, 4), str(path), opset_version=13)
    model = onnx.load(str(path))
    assert "Shape" not in ops(model)
    check_model(model, tmp_path / "bundle")
