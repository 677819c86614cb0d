"""Conv (1-D, 2-D, 3-D) with an optional bias."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.relax_builder import EmitContext


_CONV = {1: relax.op.nn.conv1d, 2: relax.op.nn.conv2d, 3: relax.op.nn.conv3d}


def conv(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    rank = len(attrs["kernel_shape"])
    x, w = ctx.value(node.inputs[0]), ctx.value(node.inputs[1])
    pads = list(attrs["pads"])  # [begin..., end...], the order relax takes too
    op = _CONV[rank]
    y = op(
        x,
        w,
        strides=list(attrs["strides"]),
        padding=pads,
        dilation=list(attrs["dilations"]),
        groups=attrs["group"],
    )
    if len(node.inputs) > 2 and node.inputs[2]:
        shape = [1, ctx.spec(node.inputs[2]).shape[0]] + [1] * rank
        bias = node.inputs[2]
        if ctx.graph.is_constant(bias):
            y = relax.op.add(y, ctx.weight(bias, ctx.graph.constants[bias].reshape(shape)))
        else:
            y = relax.op.add(y, relax.op.reshape(ctx.value(bias), shape))
    return [y]
