"""IR partition -> Relax function, built node by node with relax.BlockBuilder.

Activations become Relax variables; every constant tensor a node reads as data becomes a
parameter of `main` (it ends up in the weights blob, not folded into kernels). Operators
are emitted by the functions in `deepxc.lower.relax_ops.EMITTERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import Constant

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node, TensorSpec
from deepxc.lower.relax_ops import EMITTERS
from deepxc.lower.shape_check import check_emitted
from deepxc.targets import Core

OUT_EWISE_FUSABLE = 4  # TVM's op pattern kOutEWiseFusable


@dataclass
class RelaxProgram:
    module: tvm.IRModule
    inputs: list[str]  # graph inputs, in parameter order
    weights: list[str]  # constant tensors passed as parameters, after the inputs
    outputs: list[str]
    layer_names: dict[str, str]  # Relax binding name -> IR node name
    named_constants: list[tuple[Constant, str]]  # weights laid out at build time


@dataclass
class EmitContext:
    """What an op emitter sees: the builder, the graph and the values made so far."""

    bb: relax.BlockBuilder
    graph: Graph
    core: Core  # the CPU core (vector unit, caches) deepxc's own kernels are tiled for
    values: dict[str, relax.Expr] = field(default_factory=dict)
    weight_params: dict[str, relax.Var] = field(default_factory=dict)
    layer_names: dict[str, str] = field(default_factory=dict)
    named_constants: list[tuple[Constant, str]] = field(default_factory=list)

    def value(self, tensor: str) -> relax.Expr:
        """The Relax value of a tensor; a constant becomes a weight parameter."""
        if tensor in self.values:
            return self.values[tensor]
        if self.graph.is_constant(tensor):
            if tensor not in self.weight_params:
                self.weight_params[tensor] = relax.Var(
                    _param_name(tensor), tensor_type(self.graph.spec(tensor))
                )
            return self.weight_params[tensor]
        raise KeyError(tensor)

    def constant(self, node: Node, slot: int, what: str) -> np.ndarray:
        """The value of an input that must be known at compile time."""
        tensor = node.inputs[slot]
        if not self.graph.is_constant(tensor):
            raise UnsupportedOp(node.name, node.op, f"{what} (input {slot}) must be a constant")
        return self.graph.constants[tensor]

    def spec(self, tensor: str) -> TensorSpec:
        return self.graph.spec(tensor)

    def stored(self, tensor: str) -> np.ndarray:
        """The array a constant is laid out from: itself, or for a low-rank factor that
        several levels share, the factor at the largest rank any level uses (the
        constant is its leading slices; the kernel reads only those)."""
        store = self.graph.rank_stores.get(tensor)
        return store.array if store is not None else self.graph.constants[tensor]

    def weight(self, name: str, value: np.ndarray) -> Constant:
        """A weight in the layout a kernel wants, computed at build time from a constant."""
        value = np.array(value, order="C")
        constant = relax.const(value)
        layout = "x".join(str(d) for d in value.shape)
        self.named_constants.append((constant, f"{name}@{layout}"))
        return constant

    def own_kernel(self, compute, name: str, *args: relax.Expr) -> relax.Expr:
        """A call of one of deepxc's own TE computes (`deepxc.schedules`). It is marked
        out-elementwise-fusable, so FuseOps appends bias, activations and residual adds
        to it as it does to Relax's own convolution and matmul."""
        return self.bb.call_te(
            compute,
            *args,
            primfunc_name_hint=name,
            primfunc_attrs={"op_pattern": OUT_EWISE_FUSABLE},
        )


def tensor_type(spec: TensorSpec) -> relax.TensorType:
    return relax.TensorType(list(spec.shape), spec.dtype)


def build_relax(graph: Graph, core: Core) -> RelaxProgram:
    bb = relax.BlockBuilder()
    ctx = EmitContext(bb, graph, core)
    input_params = []
    for name in graph.inputs:
        var = relax.Var(_param_name(name), tensor_type(graph.spec(name)))
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
    )


def _emit_node(ctx: EmitContext, node: Node) -> None:
    emitter = EMITTERS.get(node.op)
    if emitter is None:
        raise UnsupportedOp(node.name, node.op, "no lowering for this op")
    results = emitter(ctx, node)
    for tensor, expr in zip(node.outputs, results):
        if not tensor or expr is None:
            continue
        if _needs_binding(expr):
            expr = ctx.bb.emit(expr, name_hint=_param_name(node.name))
            ctx.layer_names[expr.name] = node.name
        check_emitted(node, tensor, ctx.spec(tensor), expr)
        ctx.values[tensor] = expr


def _needs_binding(expr: relax.Expr) -> bool:
    return not isinstance(expr, relax.Var | Constant)


def _param_name(tensor: str) -> str:
    cleaned = "".join(c if c.isalnum() else "_" for c in tensor)
    return cleaned if cleaned[:1].isalpha() else f"t_{cleaned}"
