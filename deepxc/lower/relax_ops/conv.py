"""Conv (1-D, 2-D, 3-D) with an optional bias.

A 2-D float convolution with constant weights is computed by deepxc's own kernel
(`deepxc.schedules.conv2d`), its weights packed at build time; other convolutions, and all
of them where the context asks for no own kernels (a GPU), use Relax's operator.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

from deepxc.schedules import conv2d, depthwise

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


_CONV = {1: relax.op.nn.conv1d, 2: relax.op.nn.conv2d, 3: relax.op.nn.conv3d}


def conv(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    rank = len(attrs["kernel_shape"])
    y = _own_conv2d(ctx, node) if _has_own_kernel(ctx, node) else _relax_conv(ctx, node)
    return [add_bias(ctx, node, y, rank)]


def add_bias(ctx: EmitContext, node: Node, y: relax.Expr, rank: int) -> relax.Expr:
    """y plus the node's bias (input 2, one value per channel), if it has one."""
    if len(node.inputs) < 3 or not node.inputs[2]:
        return y
    shape = [1, ctx.spec(node.inputs[2]).shape[0]] + [1] * rank
    bias = node.inputs[2]
    if ctx.graph.is_constant(bias):
        return relax.op.add(y, ctx.weight(bias, ctx.graph.constants[bias].reshape(shape)))
    return relax.op.add(y, relax.op.reshape(ctx.value(bias), shape))


def _has_own_kernel(ctx: EmitContext, node: Node) -> bool:
    return (
        ctx.own_kernels
        and len(node.attrs["kernel_shape"]) == 2
        and ctx.graph.is_constant(node.inputs[1])
        and ctx.spec(node.inputs[0]).dtype == "float32"
    )


def _relax_conv(ctx: EmitContext, node: Node) -> relax.Expr:
    attrs = node.attrs
    x, w = ctx.value(node.inputs[0]), ctx.value(node.inputs[1])
    return _CONV[len(attrs["kernel_shape"])](
        x,
        w,
        strides=list(attrs["strides"]),
        padding=list(attrs["pads"]),  # [begin..., end...], the order relax takes too
        dilation=list(attrs["dilations"]),
        groups=attrs["group"],
    )


def _own_conv2d(ctx: EmitContext, node: Node) -> relax.Expr:
    attrs = node.attrs
    _, channels, height, width = ctx.spec(node.inputs[0]).shape
    weights = ctx.graph.constants[node.inputs[1]]
    shape = conv2d.ConvShape(
        channels=channels,
        height=height,
        width=width,
        out_channels=weights.shape[0],
        kernel=tuple(attrs["kernel_shape"]),
        strides=tuple(attrs["strides"]),
        dilations=tuple(attrs["dilations"]),
        pads=tuple(attrs["pads"]),  # ONNX's [top, left, bottom, right]
        groups=attrs["group"],
    )
    stored = ctx.stored(node.inputs[1])
    return own_conv2d(ctx, ctx.value(node.inputs[0]), shape, node.inputs[1], weights, stored)


def own_conv2d(
    ctx: EmitContext,
    x: relax.Expr,
    shape: conv2d.ConvShape,
    weight_name: str,
    weights: np.ndarray,
    stored: np.ndarray | None = None,
) -> relax.Expr:
    """The convolution `shape` of x by `weights` [out channels, channels / groups, kh, kw]
    in deepxc's own kernel. `stored`: the weights' store when they are a prefix of one
    (see EmitContext.stored). Without own kernels (a GPU) it is Relax's convolution."""
    if not ctx.own_kernels:
        return relax.op.nn.conv2d(
            x,
            ctx.weight(weight_name, weights),
            strides=list(shape.strides),
            padding=list(shape.pads),
            dilation=list(shape.dilations),
            groups=shape.groups,
        )
    stored = weights if stored is None else stored
    if depthwise.is_depthwise(shape):
        rows = depthwise.choose_rows(shape, ctx.core)
        flat = weights.reshape(shape.out_channels, -1)
        compute = functools.partial(depthwise.compute, shape=shape, rows=rows, lanes=ctx.core.lanes)
        packed = ctx.weight(weight_name, flat)
        name = "depthwise_conv2d"
    else:
        mr = None
        if stored is not weights:  # the tile's channel block is the one packed for all levels
            mr = conv2d.choose_tiling(_stored_shape(shape, stored), ctx.core).mr
        tiling = conv2d.choose_tiling(shape, ctx.core, mr)
        read = math.prod(conv2d.packed_shape(weights.shape, shape.groups, tiling.mr))
        packed = ctx.weight(
            weight_name,
            conv2d.pack_weights(stored, shape.groups, tiling.mr),
            read * weights.itemsize,
        )
        compute = functools.partial(conv2d.compute, shape=shape, tiling=tiling)
        name = "conv2d"
    return ctx.own_kernel(compute, name, x, packed)


def _stored_shape(shape: conv2d.ConvShape, stored) -> conv2d.ConvShape:
    """The convolution the stored (largest-rank) weights belong to."""
    return dataclasses.replace(shape, out_channels=stored.shape[0], channels=stored.shape[1])
