"""Gemm and MatMul. Constant operands are laid out at build time, not transposed per run.

A float [m, k] activation times constant [k, n] weights is computed by deepxc's own kernel
(`deepxc.schedules.dense`) with the weights packed at build time; other products use
Relax's matmul.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

from tvm import relax

from deepxc.ir.layers import dense_weights
from deepxc.schedules import dense

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


def _operand(ctx: EmitContext, node: Node, slot: int, transpose: bool):
    tensor = node.inputs[slot]
    if ctx.graph.is_constant(tensor):
        value = ctx.graph.constants[tensor]
        return ctx.weight(tensor, value.T if transpose else value)
    value = ctx.value(tensor)
    return relax.op.permute_dims(value, [1, 0]) if transpose else value


def gemm(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    a = _operand(ctx, node, 0, bool(attrs.get("transA", 0)))
    weights = _own_kernel_weights(ctx, node)
    if weights is not None:
        y = _own_dense(ctx, node, a, weights)
    else:
        y = relax.op.matmul(a, _operand(ctx, node, 1, bool(attrs.get("transB", 0))))
    alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
    dtype = ctx.spec(node.outputs[0]).dtype
    if alpha != 1.0:
        y = relax.op.multiply(y, relax.const(alpha, dtype))
    if len(node.inputs) > 2 and node.inputs[2] and beta != 0.0:
        c = ctx.value(node.inputs[2])
        if beta != 1.0:
            c = relax.op.multiply(c, relax.const(beta, dtype))
        y = relax.op.add(y, c)
    return [y]


def matmul(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    a = ctx.value(node.inputs[0])
    weights = _own_kernel_weights(ctx, node)
    if weights is not None:
        return [_own_dense(ctx, node, a, weights)]
    return [relax.op.matmul(a, ctx.value(node.inputs[1]))]


def _own_kernel_weights(ctx: EmitContext, node: Node):
    """The [k, n] weights if deepxc's dense kernel computes this node (a float dense
    layer with constant weights), else None."""
    if not ctx.own_kernels or ctx.spec(node.inputs[0]).dtype != "float32":
        return None
    return dense_weights(ctx.graph, node)


def _own_dense(ctx: EmitContext, node: Node, a: relax.Expr, weights) -> relax.Expr:
    rows, columns = weights.shape
    stored = ctx.stored(node.inputs[1])  # a factor shared by levels: its largest rank
    if stored is not ctx.graph.constants[node.inputs[1]]:
        weights = stored.T if node.attrs.get("transB", 0) else stored
    width = dense.tile_width(weights.shape[1], ctx.core)
    read = math.prod(dense.packed_shape(rows, columns, width)) * weights.itemsize
    packed = ctx.weight(node.inputs[1], dense.pack_weights(weights, width), read)
    return ctx.own_kernel(functools.partial(dense.compute, columns=columns), "dense", a, packed)
