"""Dense layer -> two thinner dense layers, from a truncated SVD of the weights.

A Gemm or MatMul y = x W (+ c) with constant W of shape [k, n] becomes

    h = x U_r            U_r = U[:, :r] * sqrt(s[:r])          [k, r]
    y = h V_r (+ c)      V_r = sqrt(s[:r])[:, None] * Vt[:r]   [r, n]

where W = U diag(s) Vt. The singular values are split evenly between the two factors,
so both have the same scale. The layer costs r (k + n) multiply-adds per row instead of
k n, and is only worth factoring at ranks below k n / (k + n).
"""

from __future__ import annotations

import numpy as np

from deepxc.ir import Graph, Node, TensorSpec
from deepxc.ir.layers import dense_weights


def saves(k: int, n: int, rank: int) -> bool:
    return rank * (k + n) < k * n


def factors(weights: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """(U_r, V_r) with U_r V_r the best rank-`rank` approximation of `weights`."""
    u, s, vt = np.linalg.svd(weights.astype(np.float64), full_matrices=False)
    root = np.sqrt(s[:rank])
    return (u[:, :rank] * root).astype(np.float32), (root[:, None] * vt[:rank]).astype(np.float32)


def factor(graph: Graph, name: str, rank: int) -> None:
    """Replace dense node `name` by its rank-`rank` factorization, in place."""
    node = graph.node(name)
    weights = dense_weights(graph, node)
    if weights is None:
        raise ValueError(f"{name}: not a dense layer with constant 2-D weights")
    k, n = weights.shape
    if not 1 <= rank <= min(k, n):
        raise ValueError(f"{name}: rank {rank} outside 1..{min(k, n)}")
    first, second = factors(weights, rank)
    rows = graph.spec(node.inputs[0]).shape[0]
    hidden = graph.fresh_name(f"{name}_rlc_h")
    graph.tensors[hidden] = TensorSpec((rows, rank), "float32")
    u_name = graph.add_constant(graph.fresh_name(f"{name}_rlc_u"), first)
    v_name = graph.add_constant(graph.fresh_name(f"{name}_rlc_v"), second)
    graph.remove_node(name)
    graph.add_node(Node(f"{name}_rlc_u", "MatMul", [node.inputs[0], u_name], [hidden]))
    attrs = {key: value for key, value in node.attrs.items() if key != "transB"}
    if node.op == "Gemm":
        attrs["transB"] = 0
    rest = node.inputs[2:] if node.op == "Gemm" else []
    graph.add_node(Node(name, node.op, [hidden, v_name, *rest], list(node.outputs), attrs))
    graph.drop_unused_constants()
