"""ConvTranspose (1-D, 2-D, 3-D) with an optional bias (the pads resolved at import).

A 2-D float one with constant weights runs in deepxc's own convolution kernel. A
transposed convolution of stride s is the stride-1 convolution of the input with s - 1
zeros put between its pixels, by the kernel flipped and with its input and output
channels swapped, padded by the dilated kernel's extent less the pads (plus
output_padding at the end). Without dilation that is split by output phase: the output
pixels o with o % s == r read the input through the taps t of the kernel with
(r + t - begin pad) % s == 0 only, so each of the s x s phases is a plain convolution of
the input by every s-th tap, and the phases are interleaved after: the multiply-adds of
the zeros are never done. With dilation the zeros are put in. The others use Relax's
transposed convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tvm import relax, topi

from deepxc.lower.relax_ops.conv import add_bias, own_conv2d
from deepxc.schedules.conv2d import ConvShape

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext

_CONV_TRANSPOSE = {
    1: relax.op.nn.conv1d_transpose,
    2: relax.op.nn.conv2d_transpose,
    3: relax.op.nn.conv3d_transpose,
}


def conv_transpose(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    rank = len(node.attrs["kernel_shape"])
    own = (
        rank == 2
        and ctx.graph.is_constant(node.inputs[1])
        and ctx.spec(node.inputs[0]).dtype == "float32"
    )
    y = _as_conv2d(ctx, node) if own else _relax_conv_transpose(ctx, node)
    return [add_bias(ctx, node, y, rank)]


def _relax_conv_transpose(ctx: EmitContext, node: Node) -> relax.Expr:
    attrs = node.attrs
    return _CONV_TRANSPOSE[len(attrs["kernel_shape"])](
        ctx.value(node.inputs[0]),
        ctx.value(node.inputs[1]),
        strides=list(attrs["strides"]),
        padding=list(attrs["pads"]),  # [begin..., end...], the order relax takes too
        output_padding=list(attrs["output_padding"]),
        dilation=list(attrs["dilations"]),
        groups=attrs["group"],
    )


@dataclass(frozen=True)
class Phase:
    """Along one axis, the output pixels o with o % stride == r, as a convolution."""

    first_tap: int  # of the flipped kernel; then every stride-th
    taps: int
    pads: tuple[int, int]  # of the input, begin and end
    crop: int  # leading pixels of the convolution's output not in the phase
    length: int  # pixels of the phase


def phases(size: int, kernel: int, stride: int, begin_pad: int, out: int) -> list[Phase]:
    """The phases of one axis of a transposed convolution without dilation; `begin_pad`
    is the zero-stuffed convolution's (kernel - 1 - the transposed convolution's pad)."""
    result = []
    for r in range(stride):
        first = (begin_pad - r) % stride
        taps = len(range(first, kernel, stride))
        length = len(range(r, out, stride))
        offset = (r + first - begin_pad) // stride  # input pixel of the first tap at q = 0
        begin, crop = max(0, -offset), max(0, offset)
        end = max(0, crop + length + taps - 1 - size - begin)
        result.append(Phase(first, taps, (begin, end), crop, length))
    return result


def _as_conv2d(ctx: EmitContext, node: Node) -> relax.Expr:
    if list(node.attrs["dilations"]) == [1, 1]:
        return _by_phases(ctx, node)
    return _zero_stuffed(ctx, node)


def _flipped(ctx: EmitContext, node: Node, channels: int) -> np.ndarray:
    """The weights [C, M / group, kh, kw] as a convolution's [M, C / group, kh, kw],
    flipped in space."""
    group, kernel = node.attrs["group"], list(node.attrs["kernel_shape"])
    weights = ctx.graph.constants[node.inputs[1]]
    per_group = channels // group
    return (
        weights.reshape(group, per_group, -1, *kernel)
        .transpose(0, 2, 1, 3, 4)
        .reshape(-1, per_group, *kernel)[:, :, ::-1, ::-1]
    )


def _by_phases(ctx: EmitContext, node: Node) -> relax.Expr:
    attrs = node.attrs
    batch, channels, height, width = ctx.spec(node.inputs[0]).shape
    out_h, out_w = ctx.spec(node.outputs[0]).shape[2:]
    kernel, strides, pads = list(attrs["kernel_shape"]), list(attrs["strides"]), attrs["pads"]
    flipped = _flipped(ctx, node, channels)
    out_channels = flipped.shape[0]
    rows = phases(height, kernel[0], strides[0], kernel[0] - 1 - pads[0], out_h)
    cols = phases(width, kernel[1], strides[1], kernel[1] - 1 - pads[1], out_w)
    most = (rows[0].length, cols[0].length)  # phase 0 is the longest
    x = ctx.value(node.inputs[0])
    grid = []
    for ry, row in enumerate(rows):
        line = []
        for rx, col in enumerate(cols):
            if not (row.taps and col.taps and row.length and col.length):
                line.append(relax.op.zeros((batch, out_channels, *most), "float32"))
                continue
            taps = flipped[:, :, row.first_tap :: strides[0], col.first_tap :: strides[1]]
            shape = ConvShape(
                channels=channels,
                height=height,
                width=width,
                out_channels=out_channels,
                kernel=(row.taps, col.taps),
                strides=(1, 1),
                dilations=(1, 1),
                pads=(row.pads[0], col.pads[0], row.pads[1], col.pads[1]),
                groups=attrs["group"],
            )
            name = f"{node.inputs[1]}_phase{ry}{rx}"
            y = own_conv2d(ctx, x, shape, name, np.ascontiguousarray(taps))
            y = relax.op.strided_slice(
                y, [2, 3], [row.crop, col.crop], [row.crop + row.length, col.crop + col.length]
            )
            if (row.length, col.length) != most:
                short = [0, 0, 0, 0, 0, most[0] - row.length, 0, most[1] - col.length]
                y = relax.op.nn.pad(y, short)
            line.append(y)
        grid.append(relax.op.stack(line, axis=4))  # [N, M, rows, cols, sw]
    stacked = relax.op.stack(grid, axis=3)  # [N, M, rows, sh, cols, sw]
    full = [most[0] * strides[0], most[1] * strides[1]]
    y = relax.op.reshape(stacked, [batch, out_channels, *full])
    if full != [out_h, out_w]:
        y = relax.op.strided_slice(y, [2, 3], [0, 0], [out_h, out_w])
    return y


def _zero_stuffed(ctx: EmitContext, node: Node) -> relax.Expr:
    attrs = node.attrs
    _, channels, height, width = ctx.spec(node.inputs[0]).shape
    strides, dilations = list(attrs["strides"]), list(attrs["dilations"])
    kernel, group = list(attrs["kernel_shape"]), attrs["group"]
    x = ctx.value(node.inputs[0])
    if strides != [1, 1]:
        x = ctx.bb.emit(
            ctx.bb.call_te(
                lambda data: topi.nn.dilate(data, [1, 1, *strides]),
                x,
                primfunc_name_hint="dilate",
            )
        )
    extents = [(k - 1) * d for k, d in zip(kernel, dilations)]
    pads = attrs["pads"]
    begins = [extent - pad for extent, pad in zip(extents, pads[:2])]
    ends = [
        extent - pad + extra
        for extent, pad, extra in zip(extents, pads[2:], attrs["output_padding"])
    ]
    flipped = _flipped(ctx, node, channels)
    shape = ConvShape(
        channels=channels,
        height=(height - 1) * strides[0] + 1,
        width=(width - 1) * strides[1] + 1,
        out_channels=flipped.shape[0],
        kernel=tuple(kernel),
        strides=(1, 1),
        dilations=tuple(dilations),
        pads=(*begins, *ends),
        groups=group,
    )
    return own_conv2d(ctx, x, shape, node.inputs[1], np.ascontiguousarray(flipped))
