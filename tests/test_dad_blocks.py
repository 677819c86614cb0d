"""Unit blocks: the layers grouped as the lowering fuses them (checked against the
kernel calls a real build lists in manifest.json), their costs against the IR's own
statistics, their edges against the tensors, which blocks can be split by channels,
and the costs of the slices against the sliced graph."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import onnx
import pytest
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import quiet
from zoo import realistic_model

from deepxc.dad.blocks import block_edges, channel_bounds, slice_blocks, unit_blocks
from deepxc.dad.unit_block import UnitBlock
from deepxc.ingest.passes import PASSES
from deepxc.ingest.reader import import_model
from deepxc.ir.slice_channels import slice_output_channels
from deepxc.ir.stats import layer_macs, model_summary
from deepxc.pipeline import build_model

RNG = np.random.default_rng(0)
# Layers no kernel call names: an Identity or Dropout left to write a model output is
# no call at all; a Split's kernel (it makes a tuple) is listed under the layer that
# reads it, since the lowering names a call after the first named layer it computes.
NO_CALL_OPS = {"Identity", "Dropout", "Split"}


def ir_of(model: onnx.ModelProto, passes: bool = True):
    graph = import_model(model)
    for _, run in PASSES if passes else []:
        graph = run(graph)
    return graph


def zoo_or_example(name: str) -> onnx.ModelProto:
    if name == "patterns":
        return patterns_model()
    if name == "shape_patterns":
        return shape_patterns_model()
    if name in ("tiny_cnn", "digits"):
        return onnx.load(f"examples/{name}/model.onnx")
    return realistic_model(name)


def call_groups(manifest: dict) -> tuple[list[frozenset], dict[frozenset, int]]:
    """The layer sets the kernel calls compute (calls sharing a layer, as the three of
    a Softmax, joined) and how many calls each has."""
    joined = nx.Graph()
    for call in manifest["kernel_calls"]:
        joined.add_nodes_from(call["layers"])
        joined.add_edges_from(zip(call["layers"], call["layers"][1:]))
    groups = [frozenset(c) for c in nx.connected_components(joined)]
    calls = {group: 0 for group in groups}
    for call in manifest["kernel_calls"]:
        calls[next(g for g in groups if call["layers"][0] in g)] += 1
    return groups, calls


@pytest.mark.parametrize("name", ["patterns", "shape_patterns", "tiny_cnn", "digits", "squeezenet"])
def test_blocks_are_the_kernels_of_a_build(name, tmp_path):
    model = zoo_or_example(name)
    build_model(model, "host", str(tmp_path / "bundle"), log=quiet)
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    groups, calls = call_groups(manifest)
    graph = ir_of(model)
    blocks = unit_blocks(graph)
    called = set().union(*groups)
    uncalled = {layer for layer in graph.dag.nodes if layer not in called}
    assert {graph.node(layer).op for layer in uncalled} <= NO_CALL_OPS
    mine = {frozenset(b.layers) - uncalled: b for b in blocks}
    assert set(mine) - {frozenset()} == set(groups)
    assert sum(b.kernels for b in blocks) == len(manifest["kernel_calls"])
    split_outputs = {t for n in graph.nodes() if n.op == "Split" for t in n.outputs}
    for group in groups:
        if not split_outputs & set(mine[group].inputs):
            assert mine[group].kernels == calls[group], mine[group].name


def patterns_model() -> onnx.ModelProto:
    """Layers of every fusion pattern: a conv whose output two elementwise paths read
    (x * sigmoid(x)), an elementwise layer before a pool (not fused into it) and after
    one, an injective chain, a Concat of elementwise layers, a Softmax, an Identity
    beside another reader of its input."""
    node = helper.make_node
    nodes = [
        conv("conv", ["x", "W"], "c"),
        node("Sigmoid", ["c"], ["s"], name="sigmoid"),
        node("Mul", ["c", "s"], ["swish"], name="swish"),
        node("Relu", ["swish"], ["r"], name="relu"),
        node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Clip", ["p"], ["pc"], name="clip"),
        node("Reshape", ["pc", "shape"], ["rs"], name="reshape"),
        node("Transpose", ["rs"], ["tr"], name="transpose", perm=[0, 2, 1, 3]),
        node("Reshape", ["tr", "back"], ["sh"], name="shuffle"),
        node("Tanh", ["sh"], ["th"], name="tanh"),
        node("Sigmoid", ["sh"], ["ng"], name="sig2"),
        node("Concat", ["th", "ng"], ["cat"], name="concat", axis=1),
        node("Relu", ["cat"], ["cr"], name="concat_relu"),
        node("GlobalAveragePool", ["cr"], ["gap"], name="gap"),
        node("Flatten", ["gap"], ["flat"], name="flatten"),
        node("Softmax", ["flat"], ["sm"], name="softmax"),
        node("Identity", ["sm"], ["y"], name="same"),
        node("Sigmoid", ["sm"], ["y2"], name="last"),
    ]
    shapes = [np.array(v, np.int64) for v in ([1, 2, 8, 9], [1, 16, 3, 3])]
    return make_model(
        nodes,
        [tensor("x", [1, 16, 6, 6])],
        [tensor("y", [1, 32]), tensor("y2", [1, 32])],
        [const("W", (16, 16, 3, 3))]
        + [numpy_helper.from_array(v, n) for v, n in zip(shapes, ("shape", "back"))],
    )


def shape_patterns_model() -> onnx.ModelProto:
    """Layers that take nothing fused before them (Gather, Resize), lower to several
    kernels (LayerNormalization, Gather, ConvTranspose) or to none of their own (Split)."""
    node = helper.make_node
    nodes = [
        node("Relu", ["x"], ["r"], name="relu"),
        node("Gather", ["r", "index"], ["g"], name="gather", axis=1),
        node("Tanh", ["g"], ["t"], name="tanh"),
        node("Resize", ["t", "", "scales"], ["z"], name="resize", mode="nearest"),
        node("Sigmoid", ["z"], ["s"], name="sigmoid"),
        node("LayerNormalization", ["s", "gamma", "beta"], ["n"], name="norm", axis=-1),
        node("Relu", ["n"], ["nr"], name="norm_relu"),
        node("Split", ["nr"], ["a", "b"], name="split", axis=1, num_outputs=2),
        node("Mul", ["a", "b"], ["m"], name="mul"),
        node("GlobalMaxPool", ["m"], ["p"], name="pool"),
        node("ConvTranspose", ["p", "T"], ["ct"], name="deconv"),
        node("ReduceMax", ["ct", "axes"], ["rm"], name="reduce", keepdims=0),
        node("Unsqueeze", ["rm", "axes"], ["u"], name="unsqueeze"),
        node("Relu", ["u"], ["y"], name="last"),
    ]
    return make_model(
        nodes,
        [tensor("x", [1, 16, 6, 6])],
        [tensor("y", None)],
        [
            numpy_helper.from_array(np.array([2, 5, 1, 7], np.int64), "index"),
            numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
            const("gamma", (12,)),
            const("beta", (12,)),
            const("T", (2, 4, 3, 3)),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
        opset=18,
    )


def two_input_model(nodes, initializers, shape=(1, 16, 6, 6)) -> onnx.ModelProto:
    return make_model(
        nodes,
        [tensor("x", list(shape)), tensor("x2", list(shape))],
        [tensor("y", None)],
        initializers,
    )


def const(name: str, shape) -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(shape).astype(np.float32), name)


def conv(name, inputs, output, **attrs):
    return helper.make_node("Conv", inputs, [output], name=name, pads=[1, 1, 1, 1], **attrs)


def conv_plus(second: str, **attrs) -> onnx.ModelProto:
    """conv(x) + second(x2), the conv listed first."""
    return two_input_model(
        [
            conv("conv", ["x", "W"], "c"),
            helper.make_node(second, ["x2"], ["r"], name="second", **attrs),
            helper.make_node("Add", ["c", "r"], ["y"], name="add"),
        ],
        [const("W", (16, 16, 3, 3))],
    )


def test_fused_add_comes_after_the_block_of_its_other_operand():
    """The conv's block (conv, add) starts before the MaxPool in the model's order but
    reads it, so it must come after it."""
    graph = ir_of(conv_plus("MaxPool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]))
    blocks = unit_blocks(graph)
    assert [b.layers for b in blocks] == [["second"], ["conv", "add"]]
    assert block_edges(graph, blocks) == [("second", "conv", 16 * 36 * 4)]
    assert not blocks[1].sliceable  # the Add reads an activation made outside it


def test_elementwise_operand_joins_the_anchor_group():
    """FuseOps lets an elementwise layer fuse into a group that has an anchor when that
    group is where its paths end (the lowering makes one kernel of these three)."""
    (block,) = unit_blocks(ir_of(conv_plus("Relu")))
    assert block.layers == ["conv", "second", "add"] and block.inputs == ["x", "x2"]


def test_identity_joins_its_producer():
    """The Identity writing output y makes no kernel (the lowering lists no call for
    it); the Softmax it copies is also read by another layer, so nothing fuses them."""
    blocks = {b.name: b for b in unit_blocks(ir_of(patterns_model()))}
    assert blocks["softmax"].layers == ["softmax", "same"]
    assert blocks["softmax"].kernels == 1 and blocks["softmax"].outputs == ["sm", "y"]


@pytest.mark.parametrize("name", ["tiny_cnn", "squeezenet", "shufflenet"])
def test_costs_and_edges_against_the_graph(name):
    graph = ir_of(zoo_or_example(name))
    blocks = unit_blocks(graph)
    totals = model_summary(graph)["totals"]
    assert sum(b.macs for b in blocks) == totals["macs"] > 0
    layers = [layer for b in blocks for layer in b.layers]
    assert sorted(layers) == sorted(graph.dag.nodes)
    owner = {layer: b.name for b in blocks for layer in b.layers}
    crossing: dict[tuple[str, str], set[str]] = {}
    for src, dst, data in graph.dag.edges(data=True):
        if owner[src] != owner[dst]:
            crossing.setdefault((owner[src], owner[dst]), set()).update(data["tensors"])
    expected = {
        pair: sum(graph.spec(t).nbytes for t in tensors) for pair, tensors in crossing.items()
    }
    edges = block_edges(graph, blocks)
    assert {(src, dst): nbytes for src, dst, nbytes in edges} == expected
    assert len(edges) == len(expected)
    position = {b.name: index for index, b in enumerate(blocks)}
    assert all(position[src] < position[dst] for src, dst, _ in edges)
    for b in blocks:
        read = sum(n for _, dst, n in edges if dst == b.name)
        read += sum(graph.spec(t).nbytes for t in b.inputs if t in graph.inputs)
        assert b.bytes_in == read, b.name


def test_kinds():
    graph = ir_of(realistic_model("shufflenet"))
    kinds = {b.name: b.kind for b in unit_blocks(graph)}
    for node in graph.nodes():
        if node.name in kinds and node.op == "Conv":
            group, channels = node.attrs.get("group", 1), graph.spec(node.inputs[0]).shape[1]
            assert kinds[node.name] == ("depthwise" if group == channels > 1 else "conv")
    assert {"depthwise", "conv", "pool", "dense", "elementwise"} <= set(kinds.values())


GEMM = [const("G", (16, 8)), const("GB", (8,))]
W16 = [const("W", (16, 16, 3, 3))]
SLICEABLE_CASES = {
    # name: (nodes from x (and x2) to y, initializers, whether the block "a" is sliceable)
    "conv relu": ([conv("a", ["x", "W"], "c"), helper.make_node("Relu", ["c"], ["y"])], W16, True),
    "conv of 4 channels": ([conv("a", ["x", "W4"], "y")], [const("W4", (4, 16, 3, 3))], False),
    "depthwise": ([conv("a", ["x", "D"], "y", group=16)], [const("D", (16, 1, 3, 3))], False),
    "grouped conv": ([conv("a", ["x", "H"], "y", group=2)], [const("H", (16, 8, 3, 3))], False),
    "conv times per-channel": (
        [conv("a", ["x", "W"], "c"), helper.make_node("Mul", ["c", "s"], ["y"])],
        W16 + [const("s", (16, 1, 1))],
        True,
    ),
    "conv times per-pixel": (
        [conv("a", ["x", "W"], "c"), helper.make_node("Mul", ["c", "s"], ["y"])],
        W16 + [const("s", (1, 1, 6, 6))],
        False,
    ),
    "conv residual": (
        [conv("a", ["x", "W"], "c"), helper.make_node("Add", ["c", "x2"], ["y"])],
        W16,
        False,
    ),
    "gemm relu": (
        [
            helper.make_node("GlobalAveragePool", ["x"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("Gemm", ["f", "G", "GB"], ["g"], name="a"),
            helper.make_node("Relu", ["g"], ["y"]),
        ],
        GEMM,
        True,
    ),
    "matmul of activations": (
        [
            helper.make_node("Reshape", ["x", "shape"], ["m"]),
            helper.make_node("Transpose", ["m"], ["t"]),
            helper.make_node("MatMul", ["m", "t"], ["y"], name="a"),
        ],
        [numpy_helper.from_array(np.array([16, 36], np.int64), "shape")],
        False,
    ),
}


@pytest.mark.parametrize("case", SLICEABLE_CASES)
def test_sliceable(case):
    nodes, initializers, sliceable = SLICEABLE_CASES[case]
    graph = ir_of(two_input_model(nodes, initializers))
    (block,) = [b for b in unit_blocks(graph) if b.name == "a"]
    assert block.sliceable == sliceable
    if sliceable:  # the IR rewrite takes it
        slice_output_channels(graph, block.layers, channel_bounds(block.channels, 2))


def test_unfolded_batchnorm_is_sliceable():
    bn = helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"], name="bn")
    stats = [const(n, (16,)) for n in "sbm"]
    stats.append(numpy_helper.from_array(np.ones(16, np.float32), "v"))
    model = two_input_model(
        [conv("a", ["x", "W"], "c"), bn, helper.make_node("Clip", ["n"], ["y"], name="clip")],
        W16 + stats,
    )
    (block,) = [b for b in unit_blocks(ir_of(model, passes=False)) if b.name == "a"]
    assert block.layers == ["a", "bn", "clip"] and block.sliceable and block.channels == 16


@pytest.mark.parametrize("name, parts", [("tiny_cnn", 2), ("squeezenet", 3), ("resnet50", 4)])
def test_slices_cost_what_the_sliced_graph_does(name, parts):
    graph = ir_of(zoo_or_example(name))
    block = max((b for b in unit_blocks(graph) if b.sliceable), key=lambda b: b.macs)
    slices = slice_blocks(block, parts)
    bounds = [s.channel_range for s in slices]
    assert bounds[0][0] == 0 and bounds[-1][1] == block.channels
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert all(lo % 4 == 0 for lo, _ in bounds)
    for field in ("macs", "bytes_out", "weight_bytes"):
        assert sum(getattr(s, field) for s in slices) == getattr(block, field), field
    sliced, groups, _ = slice_output_channels(graph, block.layers, bounds)
    for piece, layers in zip(slices, groups):
        assert piece.layers == layers and piece.bytes_in == block.bytes_in
        nodes = [sliced.node(layer) for layer in layers]
        macs = sum(layer_macs(sliced, node) for node in nodes)
        constants = {t for node in nodes for t in node.inputs if sliced.is_constant(t)}
        weights = sum(sliced.spec(t).nbytes for t in constants)
        out_bytes = sum(sliced.spec(t).nbytes for t in piece.outputs)
        # shares of whole-block totals, rounded: within a byte or MAC per slice
        assert abs(piece.macs - macs) <= 1 and abs(piece.bytes_out - out_bytes) <= 1
        assert abs(piece.weight_bytes - weights) <= 4, piece.name  # a kept scalar's bytes


def test_channel_bounds():
    assert channel_bounds(64, 2) == [(0, 32), (32, 64)]
    assert channel_bounds(64, 3) == [(0, 20), (20, 44), (44, 64)]
    assert channel_bounds(10, 2) == [(0, 4), (4, 10)]
    with pytest.raises(Exception, match="cannot split 8 channels in 3 parts"):
        channel_bounds(8, 3)


def test_slice_shares_sum_to_the_whole():
    """Totals that the channels do not divide: the shares still add up exactly."""
    block = UnitBlock(
        name="b", layers=["b"], kind="conv", macs=1001, kernels=1, bytes_in=64,
        bytes_out=333, weight_bytes=77, inputs=["x"], outputs=["y"], sliceable=True,
        channels=10,
    )  # fmt: skip
    slices = slice_blocks(block, 3, align=2)
    assert [s.channel_range for s in slices] == [(0, 4), (4, 6), (6, 10)]
    assert [s.macs for s in slices] == [400, 200, 401]
    assert sum(s.bytes_out for s in slices) == 333 and sum(s.weight_bytes for s in slices) == 77
    assert [s.name for s in slices] == ["b@0of3", "b@1of3", "b@2of3"]
    assert all(s.slice_of == "b" and s.slices == 3 for s in slices)


def test_pools_count_their_window_reads():
    """A pool's `ops` is its output elements (onnx's shape inference) times its window; a
    global pool reads each input element once; other blocks have none. MACs stay 0."""
    nodes = [
        helper.make_node("MaxPool", ["x"], ["m"], name="max", kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node(
            "AveragePool", ["x2"], ["a"], name="avg", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("GlobalAveragePool", ["m"], ["g"], name="gap"),
        helper.make_node("Relu", ["a"], ["y"], name="relu"),
    ]
    model = make_model(
        nodes,
        [tensor("x", [1, 16, 6, 6]), tensor("x2", [1, 16, 6, 6])],
        [tensor("y", None), tensor("g", None)],
    )
    inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
    elements = {
        v.name: np.prod([d.dim_value for d in v.type.tensor_type.shape.dim]) for v in inferred
    }
    blocks = {b.name: b for b in unit_blocks(ir_of(model))}
    assert set(blocks) == {"max", "avg", "gap"}  # the Relu fused into the AveragePool's
    assert blocks["max"].ops == elements["m"] * 9 == 16 * 36 * 9
    assert blocks["avg"].ops == elements["a"] * 4 == 16 * 9 * 4
    assert blocks["gap"].ops == 16 * 36
    assert all(b.macs == 0 for b in blocks.values())
