"""Dense layers (Gemm/MatMul with constant weights) as a register-tiled GEMM.

    acc[m, n]    sum over k of data[m, k] * weights[n // width, k, n % width]
    dense[m, n]  acc, read back for the real columns

The weights are packed at build time as [column blocks, k, width], so each register tile
of `width` outputs streams one contiguous block of weights: at batch 1 the layer is bound
by reading the weights, and this reads them once, in order. The schedule inlines the
epilogues (bias, activation), keeps the `width` accumulators (a few vectors) in registers
and spreads the column blocks over the threads.
"""

from __future__ import annotations

import numpy as np
from tvm import s_tir, te

from deepxc.schedules.tiles import epilogue_output
from deepxc.targets import Core

RULE = "dense"
VECTORS_PER_TILE = 4


def tile_width(columns: int, core: Core) -> int:
    """Outputs per register tile: a few vectors, fewer for narrow layers."""
    vectors = max(1, min(VECTORS_PER_TILE, -(-columns // core.lanes)))
    return vectors * core.lanes


def packed_shape(k: int, n: int, width: int) -> tuple[int, int, int]:
    """The shape `pack_weights` gives [k, n] weights."""
    return -(-n // width), k, width


def pack_weights(weights: np.ndarray, width: int) -> np.ndarray:
    """[k, n] weights -> [column blocks, k, width], zero-filled to whole blocks."""
    k, n = weights.shape
    blocks = packed_shape(k, n, width)[0]
    packed = np.zeros((k, blocks * width), dtype=weights.dtype)
    packed[:, :n] = weights
    return packed.reshape(k, blocks, width).transpose(1, 0, 2)


def compute(data: te.Tensor, weights: te.Tensor, columns: int) -> te.Tensor:
    """data [m, k] times the [k, columns] matrix packed by `pack_weights`."""
    rows, depth = data.shape  # the weights may be deeper and wider (a shared factor)
    width = int(weights.shape[2])
    blocks = -(-columns // width)
    k = te.reduce_axis((0, depth), name="k")
    acc = te.compute(
        (rows, blocks * width),
        lambda m, n: te.sum(data[m, k] * weights[n // width, k, n % width], axis=k),
        name="dx_dense_acc",
        attrs={"deepxc_rule": RULE, "width": width},
    )
    return te.compute((rows, columns), lambda m, n: acc[m, n], name="dx_dense")


def schedule(sch: s_tir.Schedule, acc: s_tir.SBlockRV, threads: int) -> None:
    width = int(sch.get(acc).annotations["width"])
    depth = int(sch.get(acc).iter_vars[2].dom.extent)
    out = epilogue_output(sch, acc)
    m, n = sch.get_loops(out)
    n_out, n_in = sch.split(n, [None, width])
    sch.reorder(n_out, m, n_in)
    if threads > 1:  # before decompose_reduction, which parallel refuses to cross
        sch.parallel(n_out)
    sch.compute_at(acc, m)
    loops = sch.get_loops(acc)
    if depth > 1:
        columns, k = loops[-2], loops[-1]
        sch.reorder(k, columns)
    else:
        columns = loops[-1]
    sch.set_scope(acc, 0, "local")
    sch.vectorize(columns)
    if depth > 1:
        init = sch.decompose_reduction(acc, k)
        sch.vectorize(sch.get_loops(init)[-1])
    sch.vectorize(n_in)
