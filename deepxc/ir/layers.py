"""Questions about layers that several stages ask of the IR."""

from __future__ import annotations

import numpy as np

from deepxc.ir.graph import Graph, Node


def dense_weights(graph: Graph, node: Node) -> np.ndarray | None:
    """The [k, n] weights of a dense layer y = x W: a Gemm (not transposing x) or MatMul
    of a 2-D activation by a constant 2-D matrix. None for anything else."""
    if node.op not in ("Gemm", "MatMul") or node.attrs.get("transA", 0):
        return None
    data, weights = node.inputs[0], node.inputs[1]
    if graph.is_constant(data) or not graph.is_constant(weights):
        return None
    matrix = graph.constants[weights]
    if matrix.ndim != 2 or len(graph.spec(data).shape) != 2:
        return None
    return matrix.T if node.attrs.get("transB", 0) else matrix
