"""IR partition -> Relax function, built node by node with relax.BlockBuilder.

Activations become Relax variables; every constant tensor a node reads as data becomes a
parameter of `main` (it ends up in the weights blob, not folded into kernels). Operators
are emitted by the functions in `deepxc.lower.relax_ops.EMITTERS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tvm
from tvm import relax
from tvm.ir.expr import Constant

from deepxc.errors import LoweringError, UnsupportedOp, first_line
from deepxc.ir import Graph, Node
from deepxc.lower.emit_context import EmitContext, param_name, tensor_type
from deepxc.lower.relax_ops import EMITTERS
from deepxc.lower.shape_check import check_emitted
from deepxc.targets import Core


@dataclass
class RelaxProgram:
    module: tvm.IRModule
    inputs: list[str]  # graph inputs, in parameter order
    weights: list[str]  # constant tensors passed as parameters, after the inputs
    outputs: list[str]
    layer_names: dict[str, str]  # Relax binding name -> IR node name
    named_constants: list[tuple[Constant, str]]  # weights laid out at build time
    layout_bytes: dict[str, tuple[int, int]]  # named constant -> (bytes, bytes read)


def build_relax(graph: Graph, core: Core, own_kernels: bool = True) -> RelaxProgram:
    """`own_kernels`: see EmitContext (False for a GPU)."""
    bb = relax.BlockBuilder()
    ctx = EmitContext(bb, graph, core, own_kernels=own_kernels)
    input_params = []
    for name in graph.inputs:
        var = relax.Var(param_name(name), tensor_type(graph.spec(name)))
        ctx.values[name] = var
        input_params.append(var)
    with bb.function("main"):
        with bb.dataflow():
            for node in graph.nodes():
                _emit_node(ctx, node)
            results = [ctx.value(name) for name in graph.outputs]
            output = bb.emit_output(results[0] if len(results) == 1 else relax.Tuple(results))
        weights = list(ctx.weight_params)
        bb.emit_func_output(output, params=input_params + list(ctx.weight_params.values()))
    return RelaxProgram(
        bb.get(),
        list(graph.inputs),
        weights,
        list(graph.outputs),
        ctx.layer_names,
        ctx.named_constants,
        ctx.layout_bytes,
    )


# Relax prefixes its operator errors with the operator's whole description
_OP_PREAMBLE = re.compile(r"^In ir\.Op\(.*?support_level=\d+\), ")


def _emit_node(ctx: EmitContext, node: Node) -> None:
    emitter = EMITTERS.get(node.op)
    if emitter is None:
        raise UnsupportedOp(node.name, node.op, "no lowering for this op")
    try:
        _bind_results(ctx, node, emitter(ctx, node))
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:  # what TVM raises
        # Relax checks each operator as it is made and bound: what ingest let through
        reason = _OP_PREAMBLE.sub("", first_line(exc))
        raise LoweringError(
            f"node '{node.name}' ({node.op}) cannot be compiled: {reason} "
            "(if onnxruntime runs this model, please report it)"
        ) from exc


def _bind_results(ctx: EmitContext, node: Node, results: list[relax.Expr | None]) -> None:
    for tensor, expr in zip(node.outputs, results):
        if not tensor or expr is None:
            continue
        if _needs_binding(expr):
            expr = ctx.bb.emit(expr, name_hint=param_name(node.name))
            ctx.layer_names[expr.name] = node.name
        check_emitted(node, tensor, ctx.spec(tensor), expr)
        ctx.values[tensor] = expr


def _needs_binding(expr: relax.Expr) -> bool:
    return not isinstance(expr, relax.Var | Constant)
