"""The rank-r weights each low-rank rewrite should compute, written out with numpy alone:
the reference the RLC tests compare deepxc's factored layers and bundles against."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def truncate(matrix: np.ndarray, rank: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(matrix.astype(np.float64), full_matrices=False)
    return (u[:, :rank] * s[:rank]) @ vt[:rank]


def numpy_reconstruction(form: str, weights: np.ndarray, rank: int) -> np.ndarray:
    """`weights` as the layer holds them (dense [k, n] or [n, k]; conv OIHW) at `rank`."""
    if form == "dense":
        return truncate(weights, rank)  # the matrix or its transpose: same singular values
    cout, cin, kh, kw = weights.shape
    if form == "channel":
        return truncate(weights.reshape(cout, -1), rank).reshape(weights.shape)
    matrix = weights.transpose(1, 2, 0, 3).reshape(cin * kh, cout * kw)
    return truncate(matrix, rank).reshape(cin, kh, cout, kw).transpose(2, 0, 1, 3)


def reference_model(path: str, layers: list[dict]) -> onnx.ModelProto:
    """The model at `path` with each factored layer's weights at its rank, by numpy:
    `layers` as a level's manifest entry lists them (levels[k]["rlc"]["layers"])."""
    model = onnx.load(path)
    weight_of = {node.name: node.input[1] for node in model.graph.node if len(node.input) > 1}
    factored = {row["name"]: row for row in layers if row["form"]}
    by_name = {weight_of[name]: row for name, row in factored.items()}
    for initializer in model.graph.initializer:
        row = by_name.get(initializer.name)
        if row is not None:
            weights = numpy_helper.to_array(initializer)
            approx = numpy_reconstruction(row["form"], weights, row["rank"])
            initializer.CopyFrom(
                numpy_helper.from_array(approx.astype(np.float32), initializer.name)
            )
    return model
