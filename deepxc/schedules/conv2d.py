"""2-D convolution as a register-tiled implicit GEMM.

The compute (built with TE, before fusion) is

    padded[n, c, h, w]        the input with its zero border (skipped when there is none)
    panel[n, g, k, oh, ow]    im2col, k over (input channel of the group, kh, kw); only
                              for strided convolutions tiled along columns
    gemm[n, g, o, oh, ow]     sum over k of weights[g, o // mr, k, o % mr] times the
                              panel, or times `padded` read in place (three reduction
                              axes: input channel, ky, kx)
    conv[n, oc, oh, ow]       gemm, read back in NCHW

with output rows padded to a multiple of `rows`, columns to a multiple of `cols` and the
group's output channels to a multiple of `mr`; the weights are packed at build time as
[groups, channel blocks, k, mr] so the kernel reads them in order.

The schedule (after FuseOps has appended bias, activation and residual epilogues) inlines
the epilogues into one output loop nest tiled (row tile, column tile, channel block) and
computes, per tile, an [mr x rows x cols] block of accumulators kept in registers. Along
columns, each step of k broadcasts `mr` weights and loads `rows` input vectors; across
channels, it loads mr / lanes weight vectors and broadcasts `cols` pixels. A panel, when
there is one, is packed once per tile and reused by every channel block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvm import s_tir, te

from deepxc.schedules.tiles import (
    axis_loops,
    epilogue_output,
    padded_input,
    unroll_then_vectorize,
)
from deepxc.targets import Core

RULE = "conv2d"
MAX_UNROLLED_WINDOW = 25  # kernel windows up to 5x5 are unrolled in the direct kernel
# Pixels a register tile should cover when its weights stream from L2, or from further
# out (fitted to a few layer timings on Zen 4 with AVX2; benchmarks/layers.py).
PIXELS_PER_TILE_FROM_L2 = 3
PIXELS_PER_TILE_FROM_MEMORY = 6


@dataclass(frozen=True)
class ConvShape:
    channels: int
    height: int
    width: int
    out_channels: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilations: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    groups: int

    @property
    def out_size(self) -> tuple[int, int]:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilations
        top, left, bottom, right = self.pads
        return (
            (self.height + top + bottom - dh * (kh - 1) - 1) // sh + 1,
            (self.width + left + right - dw * (kw - 1) - 1) // sw + 1,
        )

    @property
    def reduction(self) -> int:
        return self.channels // self.groups * self.kernel[0] * self.kernel[1]


@dataclass(frozen=True)
class Tiling:
    """One register tile: mr output channels x rows output rows x cols output columns.

    Vectors run along the columns (cols is one vector), or, for narrow outputs and
    strided first layers, along the channels (`across_channels`: mr is a few vectors,
    cols a segment of one row), which wastes no lanes on a 7- or 13-wide row.
    """

    mr: int
    rows: int
    cols: int
    across_channels: bool = False


def ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


def choose_tiling(shape: ConvShape, core: Core, mr: int | None = None) -> Tiling:
    """The register tile with the least wasted work and the fewest loads per FMA.

    Along columns, a tile needs mr * rows accumulators, `rows` panel vectors and a
    broadcast register, and each step loads mr + rows values for mr * rows FMAs. Across
    channels, it is the same with mr / lanes weight vectors and a row segment of cols
    pixels. Each weight a tile loads serves one FMA per pixel of the tile: when the
    weights do not stay in L1 (or L2), a tile must cover enough pixels for the cache's
    bandwidth to keep up with the FMAs.
    With groups, `mr` divides the group's channels, so a tile never spans two groups.
    """
    out_h, out_w = shape.out_size
    lanes = core.lanes
    group_channels = shape.out_channels // shape.groups
    budget = core.registers - 2
    useful = out_h * out_w * group_channels
    weight_bytes = 4 * shape.reduction * shape.out_channels
    if weight_bytes <= core.l1d_bytes:
        pixels_needed = 1
    elif weight_bytes <= core.l2_bytes:
        pixels_needed = PIXELS_PER_TILE_FROM_L2
    else:
        pixels_needed = PIXELS_PER_TILE_FROM_MEMORY

    fixed = mr

    def fits(mr: int) -> bool:
        if fixed is not None:
            return mr == fixed
        return shape.groups == 1 or group_channels % mr == 0

    def score(waste: float, loads: int, fmas: int, pixels: int) -> float:
        return waste * (1 - 0.5 * loads / fmas) * min(1.0, pixels / pixels_needed)

    candidates = []
    for rows in range(1, min(out_h, 8) + 1):
        for mr in [fixed] if fixed else range(1, min(group_channels, 16) + 1):
            if mr * rows + rows <= budget and fits(mr):
                channels_p = ceil_to(group_channels, mr)
                padded = ceil_to(out_h, rows) * ceil_to(out_w, lanes) * channels_p
                tiling = Tiling(mr, rows, lanes)
                # a strided input is packed into a panel per tile, shared by the channel
                # blocks: about 4 * lanes FMA-cycles' worth per channel of the group
                packing = 1 if reads_directly(shape, tiling) else 1 + 4 * lanes / channels_p
                waste = useful / padded / packing
                candidates.append((score(waste, mr + rows, mr * rows, rows * lanes), tiling))
    for vectors in (1, 2, 4, 8):  # LLVM splits power-of-two vectors cleanly
        mr = vectors * lanes
        if not fits(mr) or (fixed is None and mr > ceil_to(group_channels, lanes)):
            continue
        # a tile of cols columns needs at least cols registers: no need to look further,
        # however wide the row (a search up to out_w took minutes on huge widths)
        for cols in (c for c in range(1, min(out_w, budget) + 1) if out_w % c == 0):
            # accumulators, the operand reused along the other side of the tile (the
            # other comes from memory) and two spare registers for LLVM's temporaries
            if vectors * cols + min(vectors, cols) + 2 <= budget:
                waste = useful / (out_h * out_w * ceil_to(group_channels, mr))
                tiling = Tiling(mr, 1, cols, True)
                candidates.append((score(waste, vectors + cols, vectors * cols, cols), tiling))
    if not candidates:
        return Tiling(fixed or 1, 1, lanes)
    return max(candidates, key=lambda candidate: candidate[0])[1]


def packed_shape(weights_shape: tuple[int, ...], groups: int, mr: int) -> tuple[int, ...]:
    """The shape `pack_weights` gives OIHW weights of `weights_shape`."""
    per_group = weights_shape[0] // groups
    k = int(np.prod(weights_shape[1:]))
    return groups, ceil_to(per_group, mr) // mr, k, mr


def pack_weights(weights: np.ndarray, groups: int, mr: int) -> np.ndarray:
    """OIHW weights -> [groups, channel blocks, k, mr], zero-filled to whole blocks."""
    per_group = weights.shape[0] // groups
    _, blocks, k, _ = packed_shape(weights.shape, groups, mr)
    padded = blocks * mr
    packed = np.zeros((groups, padded, k), dtype=weights.dtype)
    packed[:, :per_group] = weights.reshape(groups, per_group, k)
    return packed.reshape(groups, padded // mr, mr, k).transpose(0, 1, 3, 2)


def reads_directly(shape: ConvShape, tiling: Tiling) -> bool:
    """Whether the kernel reads its input in place rather than packing a panel per tile:
    across channels it broadcasts single pixels, which any stride allows; along columns
    it loads vectors of consecutive columns, which needs stride 1."""
    return tiling.across_channels or shape.strides[1] == 1


def compute(data: te.Tensor, weights: te.Tensor, shape: ConvShape, tiling: Tiling) -> te.Tensor:
    """The TE compute of the convolution; `weights` is packed by `pack_weights`."""
    (kh, kw), (sh, sw), (dh, dw) = shape.kernel, shape.strides, shape.dilations
    top, left, _, _ = shape.pads
    out_h, out_w = shape.out_size
    rows_p, cols_p = ceil_to(out_h, tiling.rows), ceil_to(out_w, tiling.cols)
    batch = data.shape[0]
    groups, group_in = shape.groups, shape.channels // shape.groups
    group_out = shape.out_channels // groups
    height_p = (rows_p - 1) * sh + dh * (kh - 1) + 1
    width_p = (cols_p - 1) * sw + dw * (kw - 1) + 1

    source = padded_input(data, top, left, height_p, width_p)
    mr = tiling.mr
    notes = {
        "deepxc_rule": RULE,
        "mr": mr,
        "rows": tiling.rows,
        "cols": tiling.cols,
        "across_channels": int(tiling.across_channels),
        "direct": int(reads_directly(shape, tiling)),
    }
    # the weights may hold more channel blocks than this layer uses (a shared factor)
    out_shape = (batch, groups, ceil_to(group_out, mr), rows_p, cols_p)
    if notes["direct"]:
        # no panel: the tile's loads come straight from the (padded) input
        ic = te.reduce_axis((0, group_in), name="ic")
        ry = te.reduce_axis((0, kh), name="ry")
        rx = te.reduce_axis((0, kw), name="rx")
        gemm = te.compute(
            out_shape,
            lambda n, g, o, oh, ow: te.sum(
                weights[g, o // mr, (ic * kh + ry) * kw + rx, o % mr]
                * source[n, g * group_in + ic, oh * sh + ry * dh, ow * sw + rx * dw],
                axis=[ic, ry, rx],
            ),
            name="dx_gemm",
            attrs=notes,
        )
    else:

        def panel(n, g, k, oh, ow):
            window = k % (kh * kw)
            channel = g * group_in + k // (kh * kw)
            return source[n, channel, oh * sh + window // kw * dh, ow * sw + window % kw * dw]

        packed = te.compute(
            (batch, groups, shape.reduction, rows_p, cols_p), panel, name="dx_panel"
        )
        k = te.reduce_axis((0, shape.reduction), name="k")
        gemm = te.compute(
            out_shape,
            lambda n, g, o, oh, ow: te.sum(
                weights[g, o // mr, k, o % mr] * packed[n, g, k, oh, ow], axis=k
            ),
            name="dx_gemm",
            attrs=notes,
        )
    if groups == 1:  # plain indices keep the tile's region exact for the schedule
        return te.compute(
            (batch, shape.out_channels, out_h, out_w),
            lambda n, oc, oh, ow: gemm[n, 0, oc, oh, ow],
            name="dx_conv",
        )
    return te.compute(
        (batch, shape.out_channels, out_h, out_w),
        lambda n, oc, oh, ow: gemm[n, oc // group_out, oc % group_out, oh, ow],
        name="dx_conv",
    )


def schedule(sch: s_tir.Schedule, gemm: s_tir.SBlockRV, threads: int) -> None:
    """Tile the output loop nest (the last block) and compute the GEMM in registers."""
    notes = sch.get(gemm).annotations
    mr, rows, cols = (int(notes[key]) for key in ("mr", "rows", "cols"))
    across_channels = bool(int(notes["across_channels"]))
    batch, groups, channels_p, rows_p, cols_p = (
        int(r.extent) for r in (iv.dom for iv in sch.get(gemm).iter_vars[:5])
    )
    reductions = [int(iv.dom.extent) for iv in sch.get(gemm).iter_vars[5:]]
    direct = bool(int(notes["direct"]))
    out = epilogue_output(sch, gemm)
    n, oc, oh, ow = sch.get_loops(out)
    group, channel = sch.split(oc, [groups, None])
    c_out, c_in = sch.split(channel, [None, mr])
    h_out, h_in = sch.split(oh, [None, rows])
    w_out, w_in = sch.split(ow, [None, cols])
    spatial_tasks = batch * groups * (rows_p // rows) * (cols_p // cols)
    if threads > 1 and spatial_tasks < 2 * threads and channels_p // mr >= threads:
        # Few spatial tiles (small late layers): split the channel blocks between threads.
        c_par, c_out = sch.split(c_out, [threads, None])
        sch.reorder(n, group, c_par, h_out, w_out, c_out, c_in, h_in, w_in)
        outer = [n, group, c_par, h_out, w_out]
    else:
        sch.reorder(n, group, h_out, w_out, c_out, c_in, h_in, w_in)
        outer = [n, group, h_out, w_out]
    fused = sch.fuse(*outer)
    if threads > 1:  # before decompose_reduction, which parallel refuses to cross
        sch.parallel(fused)
    sch.compute_at(gemm, c_out)
    reduce_names = ["ic", "ry", "rx"] if direct else ["k"]
    loops = axis_loops(
        sch, gemm, [("o", mr), ("h", rows), ("w", cols), *zip(reduce_names, reductions)]
    )
    vector = "o" if across_channels else "w"
    spatial_order = [name for name in ("o", "h", "w") if name != vector] + [vector]
    sch.reorder(*[loops[name] for name in reduce_names + spatial_order if name in loops])
    sch.set_scope(gemm, 0, "local")
    if across_channels:  # the vector axis innermost in the accumulators, too
        sch.transform_layout(gemm, ("write", 0), lambda n, g, o, h, w: (n, g, h, w, o))
    spatial = [loops[name] for name in spatial_order if name in loops]
    unroll_then_vectorize(sch, spatial, vector in loops)
    first_reduction = next((loops[name] for name in reduce_names if name in loops), None)
    if first_reduction is not None:
        init = sch.decompose_reduction(gemm, first_reduction)
        init_loops = sch.get_loops(init)[-len(spatial) :] if spatial else []
        unroll_then_vectorize(sch, init_loops, vector in loops)
    if direct and reductions[1] * reductions[2] <= MAX_UNROLLED_WINDOW:
        for name in ("ry", "rx"):
            if name in loops:
                sch.unroll(loops[name])
    unroll_then_vectorize(sch, [c_in, h_in, w_in], not across_channels)
    if not direct:
        panel = sch.get_sblock("dx_panel")
        sch.compute_at(panel, fused)
        sch.vectorize(sch.get_loops(panel)[-1])
