"""ConvTranspose (1-D, 2-D, 3-D) with an optional bias (the pads resolved at import).

A 2-D float one with constant weights runs in deepxc's own convolution kernel: a
transposed convolution of stride s is the stride-1 convolution of the input with s - 1
zeros put between its pixels, by the kernel flipped and with its input and output
channels swapped, padded by the dilated kernel's extent less the pads (plus
output_padding at the end). The others use Relax's transposed convolutions.
"""

from __future__ import annotations

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


def _as_conv2d(ctx: EmitContext, node: Node) -> relax.Expr:
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
    weights = ctx.graph.constants[node.inputs[1]]  # [C, M / group, kh, kw]
    per_group = channels // group
    flipped = (
        weights.reshape(group, per_group, -1, *kernel)
        .transpose(0, 2, 1, 3, 4)
        .reshape(-1, per_group, *kernel)[:, :, ::-1, ::-1]
    )
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
