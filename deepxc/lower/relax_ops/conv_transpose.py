"""ConvTranspose (1-D, 2-D, 3-D) with an optional bias, through Relax's transposed convolutions
(the pads resolved at import)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

from deepxc.lower.relax_ops.conv import add_bias

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext

_CONV_TRANSPOSE = {
    1: relax.op.nn.conv1d_transpose,
    2: relax.op.nn.conv2d_transpose,
    3: relax.op.nn.conv3d_transpose,
}


def conv_transpose(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    rank = len(attrs["kernel_shape"])
    y = _CONV_TRANSPOSE[rank](
        ctx.value(node.inputs[0]),
        ctx.value(node.inputs[1]),
        strides=list(attrs["strides"]),
        padding=list(attrs["pads"]),  # [begin..., end...], the order relax takes too
        output_padding=list(attrs["output_padding"]),
        dilation=list(attrs["dilations"]),
        groups=attrs["group"],
    )
    return [add_bias(ctx, node, y, rank)]
