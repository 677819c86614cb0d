"""ReduceMean, ReduceSum and ReduceMax over constant axes.

The axes are an attribute before opset 18 (ReduceSum: 13) and an input from then on; no
axes means every axis, or none with noop_with_empty_axes. ReduceMax is deepxc's own
compute (`deepxc.schedules.max_pool.reduce_max`): a NaN among the reduced elements gives
NaN, as numpy's max does (onnxruntime keeps it only at some positions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

from deepxc.schedules import max_pool

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext

_RELAX = {"ReduceMean": relax.op.mean, "ReduceSum": relax.op.sum}
AXES_INPUT_SINCE = {"ReduceSum": 13}  # the others: 18


def reduce(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    x = ctx.value(node.inputs[0])
    axes = _axes(ctx, node)
    if axes is None:
        return [x]
    keepdims = bool(node.attrs.get("keepdims", 1))
    if node.op == "ReduceMax":
        return [
            ctx.bb.call_te(
                max_pool.reduce_max, x, axes=axes, keepdims=keepdims, primfunc_name_hint="max"
            )
        ]
    return [_RELAX[node.op](x, axis=axes, keepdims=keepdims)]


def _axes(ctx: EmitContext, node: Node) -> list[int] | None:
    """The reduced axes, sorted and non-negative; None when the node reduces nothing."""
    rank = len(ctx.spec(node.inputs[0]).shape)
    if node.attrs["_opset"] < AXES_INPUT_SINCE.get(node.op, 18):
        axes = list(node.attrs.get("axes", []))
    elif len(node.inputs) > 1 and node.inputs[1]:
        axes = [int(a) for a in ctx.constant(node, 1, "axes").reshape(-1)]
    else:
        axes = []
    if not axes:
        return None if node.attrs.get("noop_with_empty_axes", 0) else list(range(rank))
    # ONNX's shape inference has refused an axis out of range; one named twice counts once,
    # as in onnxruntime
    return sorted({a % rank for a in axes})
