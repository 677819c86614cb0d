"""Dense layer -> two thinner dense layers, from a truncated SVD of the weights.

A Gemm or MatMul y = x W (+ c) with constant W of shape [k, n] (M = W) becomes

    h = x A_r            Gemm, transB: A_r is stored transposed, [r, k]
    y = h B_r (+ c)      the original op, B_r is [r, n]

so the rank is the outer axis of both stored factors. The layer costs r (k + n)
multiply-adds per row instead of k n, and only saves at ranks below k n / (k + n).
"""

from __future__ import annotations

import numpy as np

from deepxc.ir import Graph, Node, TensorSpec
from deepxc.ir.layers import dense_weights
from deepxc.rlc.lowrank import LowRank


class DenseSVD(LowRank):
    form = "dense"

    def __init__(self, graph: Graph, node: Node):
        weights = dense_weights(graph, node)
        if weights is None:
            raise ValueError(f"{node.name}: not a dense layer with constant 2-D weights")
        self.rows = graph.spec(node.inputs[0]).shape[0]
        self.transposed = bool(node.attrs.get("transB", 0))
        super().__init__(graph, node, weights)

    @staticmethod
    def applies(graph: Graph, node: Node) -> bool:
        return dense_weights(graph, node) is not None

    def from_matrix(self, matrix: np.ndarray) -> np.ndarray:
        return matrix.T if self.transposed else matrix

    def factor_weights(self, a, b):
        return (a.T, 0), (b, 0)

    def factor_layers(self, graph: Graph, node: Node, weights: list[str], rank: int) -> list[Node]:
        hidden = f"{node.name}_rlc_h"
        graph.tensors[hidden] = TensorSpec((self.rows, rank), "float32")
        first = Node(
            f"{node.name}_rlc",
            "Gemm",
            [node.inputs[0], weights[0]],
            [hidden],
            {"transB": 1, "_opset": node.attrs.get("_opset", 13)},
        )
        attrs = {key: value for key, value in node.attrs.items() if key != "transB"}
        if node.op == "Gemm":
            attrs["transB"] = 0
        rest = node.inputs[2:] if node.op == "Gemm" else []
        second = Node(node.name, node.op, [hidden, weights[1], *rest], list(node.outputs), attrs)
        return [first, second]

    def macs(self, rank: int) -> int:
        return self.rows * self.params(rank)


def factor(graph: Graph, name: str, rank: int) -> None:
    """Replace dense node `name` by its rank-`rank` factorization, in place."""
    DenseSVD(graph, graph.node(name)).factor(graph, rank)
