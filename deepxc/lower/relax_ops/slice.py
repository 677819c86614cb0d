"""Slice with constant starts, ends, axes and steps: inputs from opset 10 on, attributes
(no steps) before.

ONNX clamps a start or end past an end of the axis as Python's slices do, so each axis's
indices are `range(*slice(start, end, step).indices(size))`. Relax's strided_slice is
given them in bounds and with a positive step; an axis walked backwards is sliced forward
(from its last index to its first) and then flipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

from deepxc.errors import InvalidGraph

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


def slice_(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    shape = ctx.spec(node.inputs[0]).shape
    starts, ends, axes, steps = _operands(ctx, node, len(shape))
    begin, end, stride, flipped = [], [], [], []
    for start, stop, axis, step in zip(starts, ends, axes, steps):
        picked = range(*slice(start, stop, step).indices(shape[axis]))  # never empty (verify)
        forward = picked if step > 0 else picked[::-1]
        begin.append(forward.start)
        end.append(forward.stop if step > 0 else forward[-1] + 1)
        stride.append(abs(step))
        if step < 0:
            flipped.append(axis)
    y = relax.op.strided_slice(
        ctx.value(node.inputs[0]), axes, begin, end, stride, assume_inbound=True
    )
    for axis in flipped:
        y = relax.op.flip(y, axis)
    return [y]


def _operands(ctx: EmitContext, node: Node, rank: int) -> tuple[list[int], ...]:
    """starts, ends, non-negative distinct axes and steps, as Python ints."""
    if node.attrs["_opset"] < 10:
        starts, ends = list(node.attrs["starts"]), list(node.attrs["ends"])
        axes = list(node.attrs.get("axes", range(len(starts))))
        steps = [1] * len(starts)
    else:
        starts, ends = (
            [int(v) for v in ctx.constant(node, slot, what)]
            for slot, what in ((1, "starts"), (2, "ends"))
        )
        axes, steps = list(range(len(starts))), [1] * len(starts)
        if len(node.inputs) > 3 and node.inputs[3]:
            axes = [int(v) for v in ctx.constant(node, 3, "axes")]
        if len(node.inputs) > 4 and node.inputs[4]:
            steps = [int(v) for v in ctx.constant(node, 4, "steps")]
    # ONNX's shape inference has refused operands of different lengths and a step of 0,
    # but not, before opset 10, axes out of range or named twice
    if any(not -rank <= a < rank for a in axes) or len({a % rank for a in axes}) < len(axes):
        raise InvalidGraph(
            f"node '{node.name}' (Slice): axes {axes} are not distinct axes of an input of "
            f"rank {rank}"
        )
    return starts, ends, [a % rank for a in axes], steps
