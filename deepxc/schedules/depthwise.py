"""Depthwise 2-D convolution (one input channel per group), direct and vectorized.

    padded[n, c, h, w]     the input with its zero border (when it has one)
    acc[n, oc, oh, ow]     sum over the window of weights[oc, r] * padded[n, oc // m, ...]
    depthwise[n, oc, ...]  acc, read back for the real rows and columns

(m: output channels per input channel.) There is nothing to share between channels, so
the schedule works channel by channel: it pads the channel's plane, then sweeps it with a
tile of `rows` x one vector of accumulators in registers, the window loop innermost.
"""

from __future__ import annotations

from tvm import s_tir, te

from deepxc.schedules.conv2d import ConvShape, ceil_to
from deepxc.schedules.tiles import (
    axis_loops,
    epilogue_output,
    padded_input,
    unroll_then_vectorize,
)
from deepxc.targets import Core

RULE = "depthwise"


def is_depthwise(shape: ConvShape) -> bool:
    return shape.groups > 1 and shape.groups == shape.channels


def choose_rows(shape: ConvShape, core: Core) -> int:
    """Output rows per register tile: the fewest padded rows, then the most rows."""
    out_h = shape.out_size[0]
    limit = max(1, min(out_h, core.registers // 2 - 1, 8))
    return min(range(1, limit + 1), key=lambda rows: (ceil_to(out_h, rows), -rows))


def compute(data: te.Tensor, weights: te.Tensor, shape: ConvShape, rows: int, lanes: int):
    """`weights` is [out channels, kh * kw]."""
    (kh, kw), (sh, sw), (dh, dw) = shape.kernel, shape.strides, shape.dilations
    top, left, _, _ = shape.pads
    out_h, out_w = shape.out_size
    rows_p, cols_p = ceil_to(out_h, rows), ceil_to(out_w, lanes)
    batch = data.shape[0]
    multiplier = shape.out_channels // shape.channels
    height_p = (rows_p - 1) * sh + dh * (kh - 1) + 1
    width_p = (cols_p - 1) * sw + dw * (kw - 1) + 1

    source = padded_input(data, top, left, height_p, width_p)
    r = te.reduce_axis((0, kh * kw), name="r")
    acc = te.compute(
        (batch, shape.out_channels, rows_p, cols_p),
        lambda n, oc, oh, ow: te.sum(
            weights[oc, r]
            * source[n, oc // multiplier, oh * sh + r // kw * dh, ow * sw + r % kw * dw],
            axis=r,
        ),
        name="dx_depthwise_acc",
        attrs={"deepxc_rule": RULE, "rows": rows, "lanes": lanes},
    )
    return te.compute(
        (batch, shape.out_channels, out_h, out_w),
        lambda n, oc, oh, ow: acc[n, oc, oh, ow],
        name="dx_depthwise",
    )


def schedule(sch: s_tir.Schedule, acc: s_tir.SBlockRV, threads: int) -> None:
    notes = sch.get(acc).annotations
    rows, lanes = int(notes["rows"]), int(notes["lanes"])
    window = int(sch.get(acc).iter_vars[4].dom.extent)
    out = epilogue_output(sch, acc)
    n, oc, oh, ow = sch.get_loops(out)
    h_out, h_in = sch.split(oh, [None, rows])
    w_out, w_in = sch.split(ow, [None, lanes])
    sch.reorder(n, oc, h_out, w_out, h_in, w_in)
    channel = sch.fuse(n, oc)
    if threads > 1:  # before decompose_reduction, which parallel refuses to cross
        sch.parallel(channel)
    sch.compute_at(acc, w_out)
    loops = axis_loops(sch, acc, [("h", rows), ("w", lanes), ("r", window)])
    sch.reorder(*[loops[name] for name in ("r", "h", "w") if name in loops])
    sch.set_scope(acc, 0, "local")
    tile = [loops[name] for name in ("h", "w") if name in loops]
    unroll_then_vectorize(sch, tile, True)
    if "r" in loops:
        init = sch.decompose_reduction(acc, loops["r"])
        unroll_then_vectorize(sch, sch.get_loops(init)[-len(tile) :], True)
        sch.unroll(loops["r"])
    unroll_then_vectorize(sch, [h_in, w_in], True)
    try:
        pad = sch.get_sblock("dx_pad")
    except Exception:  # no border: the kernel reads its input directly
        pad = None
    if pad is not None:
        sch.compute_at(pad, channel)
