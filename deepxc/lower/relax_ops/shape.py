"""Data movement: reshapes (to the statically known output shape), Transpose, Expand,
Concat, Split, Pad, Gather."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

from deepxc.errors import InvalidGraph, UnsupportedOp

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


def reshape(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """Reshape, Flatten, Squeeze, Unsqueeze: the output shape is known at compile time."""
    return [relax.op.reshape(ctx.value(node.inputs[0]), list(ctx.spec(node.outputs[0]).shape))]


def transpose(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    rank = len(ctx.spec(node.inputs[0]).shape)
    perm = node.attrs.get("perm", list(reversed(range(rank))))
    return [relax.op.permute_dims(ctx.value(node.inputs[0]), list(perm))]


def expand(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """Broadcast to the output shape, which the constant shape and the input's give."""
    ctx.constant(node, 1, "shape")
    return [relax.op.broadcast_to(ctx.value(node.inputs[0]), list(ctx.spec(node.outputs[0]).shape))]


def concat(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    values = [ctx.value(t) for t in node.inputs if t]
    return [relax.op.concat(values, axis=node.attrs["axis"])]


def split(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    rank = len(ctx.spec(node.inputs[0]).shape)
    axis = node.attrs.get("axis", 0) % rank
    sizes = [ctx.spec(t).shape[axis] for t in node.outputs]
    if len(sizes) == 1:
        return [ctx.value(node.inputs[0])]
    bounds = list(np.cumsum(sizes)[:-1])
    parts = ctx.bb.emit(relax.op.split(ctx.value(node.inputs[0]), [int(b) for b in bounds], axis))
    return [relax.TupleGetItem(parts, i) for i in range(len(sizes))]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}  # ONNX: relax


def pad(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    rank = len(ctx.spec(node.inputs[0]).shape)
    if node.attrs["_opset"] < 11:
        pads = list(node.attrs["pads"])
        value = node.attrs.get("value", 0.0)
    else:
        pads = [int(p) for p in ctx.constant(node, 1, "pads")]
        value = 0.0
        if len(node.inputs) > 2 and node.inputs[2]:
            value = ctx.constant(node, 2, "constant_value").item()
    axes = list(range(rank))
    if len(node.inputs) > 3 and node.inputs[3]:
        axes = [int(a) % rank for a in ctx.constant(node, 3, "axes")]
    begins, ends = [0] * rank, [0] * rank
    for i, axis in enumerate(axes):
        begins[axis], ends[axis] = pads[i], pads[i + len(axes)]
    if any(p < 0 for p in begins + ends):
        raise UnsupportedOp(node.name, node.op, "negative pads")
    width = [w for pair in zip(begins, ends) for w in pair]
    return [
        relax.op.nn.pad(
            ctx.value(node.inputs[0]), width, _PAD_MODES[node.attrs["mode"]], float(value)
        )
    ]


def gather(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    rank = len(ctx.spec(node.inputs[0]).shape)
    axis = node.attrs.get("axis", 0) % rank
    indices = ctx.constant(node, 1, "indices").astype(np.int64)
    size = ctx.spec(node.inputs[0]).shape[axis]
    if np.any((indices < -size) | (indices >= size)):  # take's fast mode does not check
        raise InvalidGraph(
            f"node '{node.name}' (Gather): an index is out of range for axis {axis} of size {size}"
        )
    indices = np.where(indices < 0, indices + size, indices)
    # 32-bit indices: every dimension is under 2**31 (ingest checks), and an embedded GPU
    # may have no 64-bit integers
    flat = indices.reshape(-1).astype(np.int32)
    taken = relax.op.take(ctx.value(node.inputs[0]), relax.const(flat), axis)
    return [relax.op.reshape(taken, list(ctx.spec(node.outputs[0]).shape))]
