"""MaxPool and AveragePool against onnxruntime, in shape and values, on a grid of window
configurations: sizes 1-6, kernels 1-3, strides 1-3, dilations 1-2, asymmetric pads,
ceil_mode 0 and 1, count_include_pad 0 and 1, 1-D and 2-D.

The grid's configurations where onnxruntime, ONNX's shape inference and TVM used to
disagree are all in it: windows that overhang a too-short input (onnxruntime rounds the
count toward zero, TVM down) and ceil_mode windows that would start in the end padding
(onnxruntime drops them, ONNX's inference before opset 22 keeps them). Many pools go in
one model, so a few bundles cover the grid.
"""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper
from support import quiet, random_inputs, reference_outputs

from deepxc.errors import UnsupportedOp
from deepxc.ingest.importers.pool_sizes import infer_shapes, output_size, window_span
from deepxc.ingest.reader import import_model
from deepxc.pipeline import build_model
from deepxc.runner import run_bundle

# (size, kernel, stride, dilation, begin pad, end pad) along one axis; pads < kernel, as
# onnxruntime requires
AXES = [
    axis
    for axis in itertools.product(range(1, 7), [1, 2, 3], [1, 2, 3], [1, 2], range(3), range(3))
    if axis[4] < axis[1] and axis[5] < axis[1]
]
ORDINARY_SAMPLE = 6  # every 6th configuration where all three always agreed


def reaches_input(axis: tuple, ceil_mode: int) -> bool:
    """onnxruntime makes at least one window, and none of padding alone (refused)."""
    size, kernel, stride, dilation, begin, _ = axis
    count = output_size(*axis, ceil_mode)
    return count >= 1 and all(
        any(0 <= i * stride - begin + t * dilation < size for t in range(kernel))
        for i in range(count)
    )


def disputed(axis: tuple, ceil_mode: int) -> bool:
    """A window overhangs the input, or ceil mode adds a window to floor mode's."""
    size, kernel, _, dilation, begin, end = axis
    overhang = size + begin + end < window_span(kernel, dilation)
    return overhang or output_size(*axis, ceil_mode) != output_size(*axis, 0)


def grid(ceil_mode: int) -> list[tuple]:
    valid = [axis for axis in AXES if reaches_input(axis, ceil_mode)]
    ordinary = [axis for axis in valid if not disputed(axis, ceil_mode)]
    return [axis for axis in valid if disputed(axis, ceil_mode)] + ordinary[::ORDINARY_SAMPLE]


def pool_node(op: str, name: str, axes: list[tuple], ceil_mode: int, **extra):
    return helper.make_node(
        op,
        [f"{name}_x"],
        [f"{name}_y"],
        name=name,
        kernel_shape=[a[1] for a in axes],
        strides=[a[2] for a in axes],
        dilations=[a[3] for a in axes],
        pads=[a[4] for a in axes] + [a[5] for a in axes],
        ceil_mode=ceil_mode,
        **extra,
    ), tensor(f"{name}_x", [1, 2] + [a[0] for a in axes])


def grid_model(op: str, **extra) -> onnx.ModelProto:
    """Pools of every grid configuration: pairs of them as 2-D pools, every fourth also
    as a 1-D pool. Opset 22, whose shape inference sizes ceil mode as onnxruntime does."""
    nodes, inputs = [], []
    for ceil_mode in (0, 1):
        axes = grid(ceil_mode)
        pairs = [axes[i : i + 2] for i in range(0, len(axes), 2)]
        shapes = [pair for pair in pairs if len(pair) == 2] + [[a] for a in axes[::4]]
        for index, axes_of_node in enumerate(shapes):
            node, value = pool_node(op, f"p{ceil_mode}_{index}", axes_of_node, ceil_mode, **extra)
            nodes.append(node)
            inputs.append(value)
    outputs = [tensor(n.output[0], None) for n in nodes]
    return make_model(nodes, inputs, outputs, opset=22)


def assert_same(outputs: dict, expected: dict, model: onnx.ModelProto) -> None:
    nodes = {n.output[0]: n for n in model.graph.node}
    for name, reference in expected.items():
        where = f"{name}: {helper.printable_node(nodes[name])}" if name in nodes else name
        assert outputs[name].shape == reference.shape, where
        np.testing.assert_allclose(outputs[name], reference, rtol=1e-5, atol=1e-6, err_msg=where)


@pytest.mark.parametrize(
    "op, extra",
    [
        ("MaxPool", {}),
        ("AveragePool", {"count_include_pad": 0}),
        ("AveragePool", {"count_include_pad": 1}),
    ],
    ids=["maxpool", "avgpool_exclude_pad", "avgpool_include_pad"],
)
def test_pool_grid_matches_onnxruntime(op, extra, tmp_path):
    model = grid_model(op, **extra)
    inputs = random_inputs(model)
    build_model(model, "host", str(tmp_path), log=quiet)
    outputs, _ = run_bundle(str(tmp_path), inputs)
    assert_same(outputs, reference_outputs(model, inputs), model)


def ceil_chain(opset: int) -> onnx.ModelProto:
    """Two ceil-mode pools whose last windows would start in the end padding, with a Relu
    and a reshape between: every shape after the first depends on dropping them."""
    return make_model(
        [
            helper.make_node(
                "MaxPool",
                ["x"],
                ["p1"],
                name="pool1",
                kernel_shape=[2, 2],
                strides=[2, 2],
                pads=[1, 1, 1, 1],
                ceil_mode=1,
            ),
            helper.make_node("Relu", ["p1"], ["r"], name="relu"),
            helper.make_node(
                "AveragePool",
                ["r"],
                ["p2"],
                name="pool2",
                kernel_shape=[3, 1],
                strides=[3, 1],
                pads=[1, 0, 2, 0],
                ceil_mode=1,
                count_include_pad=1,
            ),
            helper.make_node("Flatten", ["p2"], ["y"], name="flatten"),
        ],
        [tensor("x", [1, 2, 7, 5])],
        [tensor("y", None)],
        opset=opset,
    )


@pytest.mark.parametrize("opset", [12, 18])
def test_infer_shapes_sizes_pools_as_onnxruntime(opset):
    model = ceil_chain(opset)
    inferred = infer_shapes(model)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in list(inferred.graph.value_info) + list(inferred.graph.output)
    }
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(tensor(name, None) for name in ("p1", "r", "p2"))
    computed = reference_outputs(probe, random_inputs(model))
    assert {name: list(value.shape) for name, value in computed.items()} == {
        name: shapes[name] for name in computed
    }
    assert [n.SerializeToString() for n in inferred.graph.node] == [
        n.SerializeToString() for n in model.graph.node
    ], "the model's own nodes are kept"


def test_ceil_mode_pools_inside_an_opset18_graph(tmp_path):
    model = ceil_chain(18)
    inputs = random_inputs(model)
    build_model(model, "host", str(tmp_path), log=quiet)
    outputs, _ = run_bundle(str(tmp_path), inputs)
    assert_same(outputs, reference_outputs(model, inputs), model)


def test_window_of_padding_only_is_refused():
    # positions -1 and 2 of a 2-wide input: onnxruntime gives the lowest float here
    node, value = pool_node("MaxPool", "pool", [(2, 2, 2, 3, 1, 0)], 0)
    model = make_model([node], [value], [tensor("pool_y", None)], opset=18)
    with pytest.raises(
        UnsupportedOp, match="'pool'.*window 0 along spatial axis 0 covers only padding"
    ):
        import_model(model)
