"""Element-wise ops: arithmetic with broadcasting, activations, Clip, Cast.

Relu, Clip, HardSigmoid and HardSwish keep NaN, as onnxruntime and the ONNX reference do:
they clip with deepxc's own compute (`deepxc.schedules.keep_nan`), not Relax's relu and
clip, which drop it.
"""

from __future__ import annotations

from functools import reduce
from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

from deepxc.errors import UnsupportedOp
from deepxc.schedules import keep_nan

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


_BINARY = {
    "Add": relax.op.add,
    "Sub": relax.op.subtract,
    "Mul": relax.op.multiply,
    "Div": relax.op.divide,
}
_UNARY = {
    "Sigmoid": relax.op.sigmoid,
    "Tanh": relax.op.tanh,
}


def binary(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    return [_BINARY[node.op](ctx.value(node.inputs[0]), ctx.value(node.inputs[1]))]


def unary(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    return [_UNARY[node.op](ctx.value(node.inputs[0]))]


def relu(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    x = ctx.value(node.inputs[0])
    return [ctx.bb.call_te(keep_nan.clip, x, low=0, high=None, primfunc_name_hint="relu")]


def sum_(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    return [reduce(relax.op.add, [ctx.value(t) for t in node.inputs])]


def leaky_relu(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    return [relax.op.nn.leakyrelu(ctx.value(node.inputs[0]), node.attrs.get("alpha", 0.01))]


def clip(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    dtype = ctx.spec(node.inputs[0]).dtype
    info = np.finfo(dtype) if np.dtype(dtype).kind == "f" else np.iinfo(dtype)
    if node.attrs["_opset"] < 11:
        low, high = node.attrs.get("min", info.min), node.attrs.get("max", info.max)
    else:
        low, high = info.min, info.max
        if len(node.inputs) > 1 and node.inputs[1]:
            low = ctx.constant(node, 1, "min").item()
        if len(node.inputs) > 2 and node.inputs[2]:
            high = ctx.constant(node, 2, "max").item()
    x = ctx.value(node.inputs[0])
    if low > high:  # ONNX: every element becomes max
        return [relax.op.full_like(x, relax.const(high, dtype))]
    low, high = np.asarray(low).item(), np.asarray(high).item()  # Python numbers for call_te
    return [ctx.bb.call_te(keep_nan.clip, x, low=low, high=high, primfunc_name_hint="clip")]


def hard_sigmoid(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """max(0, min(1, alpha x + beta)); HardSwish is x times it, with alpha 1/6, beta 1/2."""
    x = ctx.value(node.inputs[0])
    dtype = ctx.spec(node.inputs[0]).dtype
    if node.op == "HardSwish":
        alpha, beta = 1 / 6, 0.5
    else:
        alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    line = ctx.bb.emit(
        relax.op.add(relax.op.multiply(x, relax.const(alpha, dtype)), relax.const(beta, dtype))
    )
    y = ctx.bb.call_te(keep_nan.clip, line, low=0.0, high=1.0, primfunc_name_hint="hard_sigmoid")
    return [relax.op.multiply(x, y) if node.op == "HardSwish" else y]


def cast(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    """A Cast left after constant folding reads a run-time tensor: only float32 to float32
    (an identity) is possible, the bundle's run-time tensors being float32."""
    source, target = ctx.spec(node.inputs[0]).dtype, ctx.spec(node.outputs[0]).dtype
    if source != target:
        raise UnsupportedOp(
            node.name,
            node.op,
            f"a cast of the run-time tensor '{node.inputs[0]}' from {source} to {target} "
            "(run-time tensors are float32; only constants may be cast to other types)",
        )
    return [ctx.value(node.inputs[0])]


def identity(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    return [ctx.value(node.inputs[0])]
