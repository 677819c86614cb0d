"""What an op emitter sees while an IR partition is built into Relax: the builder, the
graph and the values made so far. A module of its own, so that the builder and the op
emitters both import it and not each other."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tvm import relax
from tvm.ir.expr import Constant

from deepxc.errors import UnsupportedOp
from deepxc.ir import Graph, Node, TensorSpec
from deepxc.targets import Core

OUT_EWISE_FUSABLE = 4  # TVM's op pattern kOutEWiseFusable


@dataclass
class EmitContext:
    """What an op emitter sees: the builder, the graph and the values made so far."""

    bb: relax.BlockBuilder
    graph: Graph
    core: Core  # the CPU core (vector unit, caches) deepxc's own kernels are tiled for
    # False: convolutions and dense layers use Relax's operators rather than deepxc's own
    # CPU computes (their packed weights are laid out for a CPU's vector unit), so that a
    # GPU's schedule rules recognise them
    own_kernels: bool = True
    values: dict[str, relax.Expr] = field(default_factory=dict)
    weight_params: dict[str, relax.Var] = field(default_factory=dict)
    layer_names: dict[str, str] = field(default_factory=dict)
    named_constants: list[tuple[Constant, str]] = field(default_factory=list)
    # named constant -> (its bytes, the bytes of it the kernel reads)
    layout_bytes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def value(self, tensor: str) -> relax.Expr:
        """The Relax value of a tensor; a constant becomes a weight parameter."""
        if tensor in self.values:
            return self.values[tensor]
        if self.graph.is_constant(tensor):
            if tensor not in self.weight_params:
                self.weight_params[tensor] = relax.Var(
                    param_name(tensor), tensor_type(self.graph.spec(tensor))
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

    def weight(self, name: str, value: np.ndarray, read_bytes: int | None = None) -> Constant:
        """A weight in the layout a kernel wants, computed at build time from a constant.
        `read_bytes`: how much of it the kernel reads, when less than all (a level's
        leading slices of a factor stored for several levels)."""
        value = np.array(value, order="C")
        constant = relax.const(value)
        named = f"{name}@{'x'.join(str(d) for d in value.shape)}"
        self.named_constants.append((constant, named))
        self.layout_bytes[named] = (
            value.nbytes,
            value.nbytes if read_bytes is None else read_bytes,
        )
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


def param_name(tensor: str) -> str:
    """A Relax variable name for a tensor name."""
    cleaned = "".join(c if c.isalnum() else "_" for c in tensor)
    return cleaned if cleaned[:1].isalpha() else f"t_{cleaned}"
