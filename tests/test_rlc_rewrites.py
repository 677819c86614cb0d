"""Before -> After for the three low-rank rewrites (dense, channel-SVD, spatial-SVD).

The factored graph must compute the original layer with its weights replaced by the
rank-r reconstruction computed here with numpy (onnxruntime runs that reference), and
at full rank what the original model computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from inprocess import frontend, run_graph
from lowrank_reference import numpy_reconstruction
from models import make_model, tensor
from onnx import helper, numpy_helper
from support import assert_close, random_inputs, reference_outputs

from deepxc.ir import verify
from deepxc.ir.stats import model_summary
from deepxc.rlc import ChannelSVD, DenseSVD, SpatialSVD, decompositions

RNG = np.random.default_rng(7)

# name -> (op attributes, input shape, weight shape)
CONVS = {
    "3x3": ({"pads": [1, 1, 1, 1]}, [1, 6, 9, 11], [8, 6, 3, 3]),
    "stride2_uneven": ({"strides": [2, 2], "pads": [0, 1, 2, 0]}, [1, 5, 12, 10], [7, 5, 3, 3]),
    "5x3_dilated": ({"dilations": [2, 1], "pads": [2, 1, 2, 1]}, [1, 4, 13, 8], [9, 4, 5, 3]),
    "1x1": ({}, [1, 12, 5, 5], [10, 12, 1, 1]),
}


def _conv_model(name: str, bias: bool = True):
    attrs, shape, weight_shape = CONVS[name]
    weights = RNG.standard_normal(weight_shape).astype(np.float32)
    initializers = [numpy_helper.from_array(weights, "w")]
    inputs = ["x", "w"]
    if bias:
        initializers.append(
            numpy_helper.from_array(RNG.standard_normal(weight_shape[0]).astype(np.float32), "b")
        )
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], kernel_shape=weight_shape[2:], **attrs)
    return make_model([node], [tensor("x", shape)], [tensor("y", None)], initializers), weights


def _dense_model(op: str, trans_b: int = 0, rows: int = 2, k: int = 24, n: int = 10):
    shape = (n, k) if trans_b else (k, n)
    weights = RNG.standard_normal(shape).astype(np.float32)
    initializers = [numpy_helper.from_array(weights, "w")]
    if op == "Gemm":
        bias = RNG.standard_normal(n).astype(np.float32)
        initializers.append(numpy_helper.from_array(bias, "b"))
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=trans_b, alpha=0.5)
    else:
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
    model = make_model([node], [tensor("x", [rows, k])], [tensor("y", None)], initializers)
    return model, weights


def _with_weights(model: onnx.ModelProto, weights: np.ndarray) -> onnx.ModelProto:
    changed = onnx.ModelProto()
    changed.CopyFrom(model)
    changed.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights.astype(np.float32), "w"))
    return changed


CASES = [(DenseSVD, "Gemm", 0), (DenseSVD, "Gemm", 1), (DenseSVD, "MatMul", 0)] + [
    (form, conv, 0) for form in (ChannelSVD, SpatialSVD) for conv in CONVS
]


def _model(form, layer, trans_b):
    return _dense_model(layer, trans_b) if form is DenseSVD else _conv_model(layer)


def _factor(form, model, rank, stored_rank=None):
    graph = frontend(model)
    node = graph.nodes()[0]
    layer = form(graph, node)
    layer.factor(graph, rank, stored_rank)
    verify(graph, after="rlc")
    return graph, layer


@pytest.mark.parametrize(
    "form,layer,trans_b", [c for c in CASES if c[1] != "1x1" or c[0] is ChannelSVD]
)
@pytest.mark.parametrize("rank", [1, 3])
def test_factored_layer_is_the_numpy_reconstruction(form, layer, trans_b, rank):
    model, weights = _model(form, layer, trans_b)
    graph, _ = _factor(form, model, rank)
    assert len(graph.nodes()) == 2
    inputs = random_inputs(model)
    approx = numpy_reconstruction(form.form, weights, rank)
    expected = reference_outputs(_with_weights(model, approx), inputs)
    assert_close(run_graph(graph, inputs), expected, 1e-4)


@pytest.mark.parametrize(
    "form,layer,trans_b", [c for c in CASES if c[1] != "1x1" or c[0] is ChannelSVD]
)
def test_full_rank_matches_the_original_model(form, layer, trans_b):
    model, _ = _model(form, layer, trans_b)
    graph = frontend(model)
    full = form(graph, graph.nodes()[0]).full_rank
    graph, _ = _factor(form, model, full)
    inputs = random_inputs(model)
    assert_close(run_graph(graph, inputs), reference_outputs(model, inputs), 1e-4)


@pytest.mark.parametrize(
    "form,layer", [(DenseSVD, "Gemm"), (ChannelSVD, "3x3"), (SpatialSVD, "5x3_dilated")]
)
def test_a_stored_larger_rank_gives_the_same_layer(form, layer):
    """With a store the constants are its leading slices, and the kernels that read the
    store compute what the plain rank-r factors compute."""
    model, _ = _model(form, layer, 0)
    plain, _ = _factor(form, model, 2)
    shared, _ = _factor(form, model, 2, stored_rank=5)
    assert set(shared.rank_stores) == {n for n in shared.constants if "_rlc_" in n}
    for name, store in shared.rank_stores.items():
        assert store.array.shape[store.axis] == 5
        np.testing.assert_array_equal(
            shared.constants[name], np.take(store.array, range(2), axis=store.axis)
        )
        np.testing.assert_array_equal(shared.constants[name], plain.constants[name])
    inputs = random_inputs(model)
    assert_close(run_graph(shared, inputs), run_graph(plain, inputs), 1e-5)


@pytest.mark.parametrize("form,layer,trans_b", CASES)
def test_cost_model_counts_what_the_factored_graph_holds(form, layer, trans_b):
    model, _ = _model(form, layer, trans_b)
    original = frontend(model)
    candidate = form(original, original.nodes()[0])
    assert candidate.original_macs == model_summary(original)["totals"]["macs"]
    if not form.applies(original, original.nodes()[0]):
        return
    for rank in (1, 2):
        graph, _ = _factor(form, model, rank)
        totals = model_summary(graph)["totals"]
        bias = sum(i.dims[0] for i in model.graph.initializer if i.name == "b")
        assert totals["macs"] == candidate.macs(rank)
        assert totals["params"] == candidate.params(rank) + bias


def test_useful_ranks_save_both_macs_and_weights():
    model, _ = _dense_model("MatMul", k=100, n=100)
    graph = frontend(model)
    layer = DenseSVD(graph, graph.nodes()[0])
    assert layer.useful_ranks() == range(1, 50)  # r (k + n) < k n  <=>  r < 50
    with pytest.raises(ValueError, match="rank 101 outside 1..100"):
        layer.factor(graph, 101)


def test_decompositions_offers_each_form_that_applies():
    model, _ = _conv_model("3x3")
    graph = frontend(model)
    forms = sorted(d.form for d in decompositions(graph))
    assert forms == ["channel", "spatial"]
    model, _ = _conv_model("1x1")
    assert [d.form for d in decompositions(frontend(model))] == ["channel"]
