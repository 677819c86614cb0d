"""MaxPool, AveragePool (1-D, 2-D, 3-D) and the global pools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.relax_builder import EmitContext


_OPS = {
    ("MaxPool", 1): relax.op.nn.max_pool1d,
    ("MaxPool", 2): relax.op.nn.max_pool2d,
    ("AveragePool", 1): relax.op.nn.avg_pool1d,
    ("AveragePool", 2): relax.op.nn.avg_pool2d,
    ("MaxPool", 3): relax.op.nn.max_pool3d,
    ("AveragePool", 3): relax.op.nn.avg_pool3d,
}


def pool(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    kernel = list(attrs["kernel_shape"])
    op = _OPS[(node.op, len(kernel))]
    y = op(
        ctx.value(node.inputs[0]),
        pool_size=kernel,
        strides=list(attrs["strides"]),
        padding=list(attrs["pads"]),
        dilation=list(attrs["dilations"]),
        ceil_mode=bool(attrs["ceil_mode"]),
        count_include_pad=bool(attrs.get("count_include_pad", 0)),  # AveragePool only
    )
    return [y]


def global_pool(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    x = ctx.value(node.inputs[0])
    axes = list(range(2, len(ctx.spec(node.inputs[0]).shape)))
    reduce = relax.op.mean if node.op == "GlobalAveragePool" else relax.op.max
    return [reduce(x, axis=axes, keepdims=True)]
