"""Before -> After for the dense low-rank rewrite: the factored graph computes x times the
numpy rank-r reconstruction of W, and at full rank what the original model computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from inprocess import frontend, run_graph
from models import make_model, tensor
from onnx import helper
from support import assert_close, random_inputs, reference_outputs

from deepxc.ir import verify
from deepxc.rlc import dense_svd


def _dense(op: str, trans_b: int = 0, rows: int = 2, k: int = 24, n: int = 10):
    rng = np.random.default_rng(3)
    shape = (n, k) if trans_b else (k, n)
    weights = rng.standard_normal(shape).astype(np.float32)
    initializers = [onnx.numpy_helper.from_array(weights, "w")]
    if op == "Gemm":
        bias = rng.standard_normal(n).astype(np.float32)
        initializers.append(onnx.numpy_helper.from_array(bias, "b"))
        node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=trans_b, alpha=0.5)
    else:
        node = helper.make_node("MatMul", ["x", "w"], ["y"])
    model = make_model([node], [tensor("x", [rows, k])], [tensor("y", None)], initializers)
    return model, weights.T if trans_b else weights


@pytest.mark.parametrize("op,trans_b", [("Gemm", 0), ("Gemm", 1), ("MatMul", 0)])
@pytest.mark.parametrize("rank", [1, 4])
def test_factored_dense_is_the_svd_reconstruction(op, trans_b, rank):
    model, weights = _dense(op, trans_b)
    graph = frontend(model)
    name = graph.nodes()[0].name
    dense_svd.factor(graph, name, rank)
    verify(graph, after="rlc")
    assert [n.op for n in graph.nodes()] == ["MatMul", op]
    inputs = random_inputs(model)
    u, s, vt = np.linalg.svd(weights.astype(np.float64), full_matrices=False)
    approx = (u[:, :rank] * s[:rank]) @ vt[:rank]
    expected = inputs["x"].astype(np.float64) @ approx
    if op == "Gemm":
        bias = onnx.numpy_helper.to_array(model.graph.initializer[1])
        expected = 0.5 * expected + bias
    assert_close(run_graph(graph, inputs), {"y": expected.astype(np.float32)}, 1e-4)


@pytest.mark.parametrize("op,trans_b", [("Gemm", 0), ("Gemm", 1), ("MatMul", 0)])
def test_full_rank_matches_the_original_model(op, trans_b):
    model, weights = _dense(op, trans_b)
    graph = frontend(model)
    dense_svd.factor(graph, graph.nodes()[0].name, min(weights.shape))
    inputs = random_inputs(model)
    assert_close(run_graph(graph, inputs), reference_outputs(model, inputs), 1e-4)


def test_savings_and_refusals():
    assert dense_svd.saves(100, 100, 49) and not dense_svd.saves(100, 100, 50)
    model, _ = _dense("Gemm")
    graph = frontend(model)
    name = graph.nodes()[0].name
    with pytest.raises(ValueError, match="rank 11 outside 1..10"):
        dense_svd.factor(graph, name, 11)
