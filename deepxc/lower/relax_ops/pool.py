"""MaxPool, AveragePool (1-D, 2-D, 3-D) and the global pools.

Ingest has restated every pool in floor mode (ceil_mode=0). The max pools are deepxc's
own computes (`deepxc.schedules.max_pool`), whose windows keep NaN and -inf.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

from deepxc.schedules import max_pool

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


_AVERAGE = {1: relax.op.nn.avg_pool1d, 2: relax.op.nn.avg_pool2d, 3: relax.op.nn.avg_pool3d}


def pool(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    kernel = list(attrs["kernel_shape"])
    x = ctx.value(node.inputs[0])
    if node.op == "MaxPool":
        return [
            ctx.bb.call_te(
                max_pool.compute,
                x,
                kernel=kernel,
                strides=list(attrs["strides"]),
                dilations=list(attrs["dilations"]),
                pads=list(attrs["pads"]),
                primfunc_name_hint=f"max_pool{len(kernel)}d",
            )
        ]
    y = _AVERAGE[len(kernel)](
        x,
        pool_size=kernel,
        strides=list(attrs["strides"]),
        padding=list(attrs["pads"]),
        dilation=list(attrs["dilations"]),
        count_include_pad=bool(attrs["count_include_pad"]),
    )
    return [y]


def global_pool(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    x = ctx.value(node.inputs[0])
    if node.op == "GlobalMaxPool":
        return [ctx.bb.call_te(max_pool.global_compute, x, primfunc_name_hint="max")]
    axes = list(range(2, len(ctx.spec(node.inputs[0]).shape)))
    return [relax.op.mean(x, axis=axes, keepdims=True)]
