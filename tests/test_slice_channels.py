"""Splitting a layer group's output channels: the rewritten graph, exported to ONNX and
run by onnxruntime, computes what onnxruntime computes for the original model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from inprocess import run_graph
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import assert_close, random_inputs, reference_outputs
from zoo import realistic_model

from deepxc.dad.blocks import unit_blocks
from deepxc.ingest.passes import PASSES
from deepxc.ingest.reader import import_model
from deepxc.ir import verify
from deepxc.ir.export import to_onnx
from deepxc.ir.slice_channels import SliceError, slice_output_channels

RNG = np.random.default_rng(0)


def const(name: str, shape) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32), name)


def conv_model(after: list, initializers: list, out_channels: int = 64) -> onnx.ModelProto:
    """x (1, 8, 10, 10) -> 3x3 Conv to `out_channels` -> the nodes `after` -> y."""
    conv = helper.make_node("Conv", ["x", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1])
    return make_model(
        [conv] + after,
        [tensor("x", [1, 8, 10, 10])],
        [tensor("y", [1, out_channels, 10, 10])],
        [const("W", (out_channels, 8, 3, 3)), const("B", (out_channels,))] + initializers,
    )


def assert_slicing_keeps_outputs(model, layers, bounds, passes=False, lower=False) -> None:
    """The sliced graph in onnxruntime (and, with `lower`, compiled by deepxc's own
    lowering and run by TVM) gives the original model's outputs in onnxruntime."""
    graph = import_model(model)
    if passes:
        for _, run in PASSES:
            graph = run(graph)
    before = sorted(graph.dag.nodes)
    sliced, groups, concat = slice_output_channels(graph, layers, bounds)
    assert sorted(graph.dag.nodes) == before  # the input graph is untouched
    verify(sliced, after="channel slicing")
    assert groups == [[f"{layer}@{i}" for layer in layers] for i in range(len(bounds))]
    assert sliced.node(concat).op == "Concat"
    assert not set(layers) & set(sliced.dag.nodes)
    for group, (lo, hi) in zip(groups, bounds):
        assert sliced.spec(sliced.node(group[-1]).outputs[0]).shape[1] == hi - lo
    inputs = random_inputs(model)
    expected = reference_outputs(model, inputs)
    actual = reference_outputs(to_onnx(sliced), inputs)
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=1e-5, atol=1e-5)
    if lower:
        assert_close(run_graph(sliced, inputs), expected)


@pytest.mark.parametrize(
    "bounds", [[(0, 32), (32, 64)], [(0, 8), (8, 64)], [(0, 4), (4, 20), (20, 64)]]
)
def test_conv_bias_relu(bounds):
    model = conv_model([helper.make_node("Relu", ["c"], ["y"], name="relu")], [])
    assert_slicing_keeps_outputs(model, ["conv", "relu"], bounds, lower=True)


def test_conv_batchnorm_clip():
    bn = helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn")
    clip = helper.make_node("Clip", ["n", "lo", "hi"], ["y"], name="clip")
    stats = [const("s", (64,)), const("b", (64,)), const("m", (64,))]
    variance = numpy_helper.from_array(RNG.uniform(0.5, 1.5, 64).astype(np.float32), "v")
    bounds = [numpy_helper.from_array(np.float32(v), n) for n, v in (("lo", 0.0), ("hi", 0.6))]
    model = conv_model([bn, clip], stats + [variance] + bounds)
    assert_slicing_keeps_outputs(model, ["conv", "bn", "clip"], [(0, 8), (8, 64)])


def test_conv_per_channel_mul_add_and_scalar_div():
    nodes = [
        helper.make_node("Mul", ["c", "scale"], ["m"], name="mul"),
        helper.make_node("Add", ["shift", "m"], ["a"], name="add"),
        helper.make_node("Div", ["a", "slope"], ["y"], name="div"),
    ]
    constants = [const("scale", (1, 64, 1, 1)), const("shift", (64, 1, 1)), const("slope", (1,))]
    model = conv_model(nodes, constants)
    assert_slicing_keeps_outputs(model, ["conv", "mul", "add", "div"], [(0, 24), (24, 64)])


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_relu(trans_b):
    weight = (32, 40) if trans_b else (40, 32)
    model = make_model(
        [
            helper.make_node("Gemm", ["x", "W", "B"], ["g"], name="fc", transB=trans_b),
            helper.make_node("Relu", ["g"], ["y"], name="relu"),
        ],
        [tensor("x", [2, 40])],
        [tensor("y", [2, 32])],
        [const("W", weight), const("B", (32,))],
    )
    assert_slicing_keeps_outputs(model, ["fc", "relu"], [(0, 8), (8, 20), (20, 32)])


def test_matmul():
    model = make_model(
        [helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")],
        [tensor("x", [3, 16])],
        [tensor("y", [3, 12])],
        [const("W", (16, 12))],
    )
    assert_slicing_keeps_outputs(model, ["mm"], [(0, 4), (4, 12)])


@pytest.mark.parametrize("name", ["squeezenet", "resnet50"])
def test_zoo_layer(name):
    """A sliceable block in the middle of a zoo model, cut in three."""
    model = realistic_model(name)
    graph = import_model(model)
    for _, run in PASSES:
        graph = run(graph)
    sliceable = [block for block in unit_blocks(graph) if block.sliceable and block.channels >= 64]
    block = sliceable[len(sliceable) // 2]
    third = block.channels // 3 // 4 * 4
    bounds = [(0, third), (third, 2 * third), (2 * third, block.channels)]
    assert_slicing_keeps_outputs(model, block.layers, bounds, passes=True, lower=True)


def test_residual_add_is_refused():
    model = conv_model([helper.make_node("Add", ["c", "x2"], ["y"], name="add")], [], 8)
    model.graph.input.append(tensor("x2", [1, 8, 10, 10]))
    with pytest.raises(SliceError, match="'add'.*made outside the group"):
        slice_output_channels(import_model(model), ["conv", "add"], [(0, 4), (4, 8)])


@pytest.mark.parametrize("bounds", [[(0, 8), (16, 64)], [(0, 8), (8, 60)], [(8, 64)], []])
def test_ranges_must_tile_the_channels(bounds):
    model = conv_model([helper.make_node("Relu", ["c"], ["y"], name="relu")], [])
    with pytest.raises(SliceError, match="do not tile its 64 channels"):
        slice_output_channels(import_model(model), ["conv", "relu"], bounds)


def test_unknown_layer_is_named():
    model = conv_model([helper.make_node("Relu", ["c"], ["y"], name="relu")], [])
    with pytest.raises(SliceError, match="no layer named 'rleu'"):
        slice_output_channels(import_model(model), ["conv", "rleu"], [(0, 32), (32, 64)])


def test_slicing_twice_keeps_both_slices():
    """The sliced graph sliced again (another range split of the copy 0 group) still
    computes the model: the new constants get names of their own."""
    model = conv_model([helper.make_node("Relu", ["c"], ["y"], name="relu")], [])
    graph = import_model(model)
    once, groups, _ = slice_output_channels(graph, ["conv", "relu"], [(0, 32), (32, 64)])
    twice, _, _ = slice_output_channels(once, groups[0], [(0, 8), (8, 32)])
    verify(twice, after="channel slicing")
    inputs = random_inputs(model)
    np.testing.assert_allclose(
        reference_outputs(to_onnx(twice), inputs)["y"],
        reference_outputs(model, inputs)["y"],
        rtol=1e-5,
        atol=1e-5,
    )
