"""BatchNormalization (inference), LayerNormalization, LRN, Softmax and LogSoftmax."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


def batch_norm(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """y = x * a + b per channel, with a and b computed at build time when constant."""
    x = ctx.value(node.inputs[0])
    rank = len(ctx.spec(node.inputs[0]).shape)
    epsilon = node.attrs.get("epsilon", 1e-5)
    scale, bias, mean, var = (
        ctx.constant(node, i, n) for i, n in enumerate(("scale", "bias", "mean", "var"), start=1)
    )
    factor = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + epsilon)
    shift = bias - mean * factor
    shape = (-1,) + (1,) * (rank - 2)
    dtype = ctx.spec(node.inputs[0]).dtype
    a = ctx.weight(f"{node.name}_scale", factor.reshape(shape).astype(dtype))
    b = ctx.weight(f"{node.name}_shift", shift.reshape(shape).astype(dtype))
    return [relax.op.add(relax.op.multiply(x, a), b)]


def layer_norm(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """(x - mean) / sqrt(var + epsilon) * scale + bias over the axes from `axis` on; scale
    and bias broadcast to the normalized shape (Relax's layer_norm wants them of it)."""
    x = ctx.value(node.inputs[0])
    spec = ctx.spec(node.inputs[0])
    axes = list(range(node.attrs["axis"] % len(spec.shape), len(spec.shape)))
    centered = relax.op.subtract(x, relax.op.mean(x, axis=axes, keepdims=True))
    variance = relax.op.mean(relax.op.multiply(centered, centered), axis=axes, keepdims=True)
    epsilon = relax.const(node.attrs["epsilon"], spec.dtype)
    y = relax.op.divide(centered, relax.op.sqrt(relax.op.add(variance, epsilon)))
    y = relax.op.multiply(y, ctx.value(node.inputs[1]))
    if len(node.inputs) > 2 and node.inputs[2]:
        y = relax.op.add(y, ctx.value(node.inputs[2]))
    return [y]


def lrn(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """ONNX LRN: x / (bias + alpha / size * sum of squares over a window of channels)^beta.

    The window sum is an average pool over the channel axis (times size), on a view of the
    input as (N, 1, C, H*W).
    """
    shape = ctx.spec(node.inputs[0]).shape
    size = node.attrs["size"]
    alpha, beta = node.attrs.get("alpha", 1e-4), node.attrs.get("beta", 0.75)
    bias = node.attrs.get("bias", 1.0)
    dtype = ctx.spec(node.inputs[0]).dtype
    x = ctx.value(node.inputs[0])
    rest = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    squares = relax.op.reshape(relax.op.multiply(x, x), [shape[0], 1, shape[1], rest])
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    mean = relax.op.nn.avg_pool2d(
        squares, pool_size=[size, 1], padding=[before, 0, after, 0], count_include_pad=True
    )
    window = relax.op.reshape(mean, list(shape))
    denominator = relax.op.add(
        relax.const(np.array(bias, dtype)),
        relax.op.multiply(window, relax.const(np.array(alpha, dtype))),
    )
    return [relax.op.divide(x, relax.op.power(denominator, relax.const(np.array(beta, dtype))))]


def softmax(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    x = ctx.value(node.inputs[0])
    shape = ctx.spec(node.inputs[0]).shape
    op = relax.op.nn.softmax if node.op == "Softmax" else relax.op.nn.log_softmax
    if node.attrs["_opset"] >= 13:
        return [op(x, axis=node.attrs.get("axis", -1))]
    axis = node.attrs.get("axis", 1) % max(len(shape), 1)
    rows = int(np.prod(shape[:axis]))
    flat = relax.op.reshape(x, [rows, int(np.prod(shape)) // max(rows, 1)])
    return [relax.op.reshape(op(flat, axis=1), list(shape))]
