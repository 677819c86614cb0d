"""The rank-r weights each low-rank rewrite should compute, written out with numpy alone:
the reference the RLC tests compare deepxc's factored layers and bundles against."""

from __future__ import annotations

import numpy as np


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
