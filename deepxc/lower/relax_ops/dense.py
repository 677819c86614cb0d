"""Gemm and MatMul. Constant operands are laid out at build time, not transposed per run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tvm import relax

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.relax_builder import EmitContext


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
    b = _operand(ctx, node, 1, bool(attrs.get("transB", 0)))
    y = relax.op.matmul(a, b)
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
    return [relax.op.matmul(ctx.value(node.inputs[0]), ctx.value(node.inputs[1]))]
