"""Walk the fused Relax `main` and list its kernel calls over named buffers."""

from __future__ import annotations

import numpy as np
from tvm import relax
from tvm.ir.expr import Constant

from deepxc.artifacts import Buffer, KernelCall
from deepxc.ir import TensorSpec
from deepxc.lower.relax_pipeline import is_call_dps_packed, is_call_tir


def spec_of(ty) -> TensorSpec:
    return TensorSpec(tuple(int(d) for d in ty.shape), str(ty.dtype))


class CallLister:
    """Gives every value of `main` a buffer and records the call_tir bindings in order."""

    def __init__(
        self,
        inputs: list[str],
        weights: list[str],
        named_constants=(),
        offloaded: dict[str, tuple[str, list[str]]] | None = None,
    ):
        """`offloaded`: per external function a call may name (a partition on another
        processor), that processor and the IR layers the partition computes."""
        self.offloaded = offloaded or {}
        self._tir_calls = 0
        self.input_names = inputs
        self.weight_names = weights
        self.named_constants = list(named_constants)
        self.buffers: dict[str, Buffer] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.calls: list[KernelCall] = []
        self._values: dict = {}  # relax Var -> buffer name, or list of names for tuples

    def run(self, main: relax.Function, layers: list[list[str]]) -> list[str]:
        for index, param in enumerate(main.params):
            is_input = index < len(self.input_names)
            name = (
                self.input_names[index]
                if is_input
                else self.weight_names[index - len(self.input_names)]
            )
            self._values[param] = name
            self.buffers[name] = Buffer(name, spec_of(param.ty), "input" if is_input else "weight")
        for block in main.body.blocks:
            for binding in block.bindings:
                self._bind(binding.var, binding.value, layers)
        result = self._lookup(main.body.body)
        return result if isinstance(result, list) else [result]

    def _bind(self, var: relax.Var, value: relax.Expr, layers: list[list[str]]) -> None:
        if is_call_tir(value):
            ins = [self._lookup(arg) for arg in value.args[1].fields]
            outs = self._new_activations(var)
            index = self._tir_calls
            self._tir_calls += 1
            names = layers[index] if index < len(layers) else []
            flat_outs = outs if isinstance(outs, list) else [outs]
            self.calls.append(KernelCall(value.args[0].name_hint, ins + flat_outs, names))
            self._values[var] = outs
        elif is_call_dps_packed(value):
            symbol = str(value.args[0].global_symbol)
            processor, names = self.offloaded[symbol]
            ins = [self._lookup(arg) for arg in value.args[1].fields]
            outs = self._new_activations(var)
            flat_outs = outs if isinstance(outs, list) else [outs]
            self.calls.append(KernelCall(symbol, ins + flat_outs, list(names), processor=processor))
            self._values[var] = outs
        elif isinstance(value, relax.Tuple):
            self._values[var] = [self._lookup(field) for field in value.fields]
        else:
            self._values[var] = self._lookup(value)

    def _lookup(self, expr: relax.Expr):
        if isinstance(expr, Constant):
            name = self._constant_name(expr)
            if name in self.constants:
                return name
            self.constants[name] = expr.value.numpy()
            self.buffers[name] = Buffer(name, spec_of(expr.ty), "weight")
            return name
        if isinstance(expr, relax.TupleGetItem):
            return self._lookup(expr.tuple_value)[expr.index]
        if isinstance(expr, relax.Tuple):
            return [self._lookup(field) for field in expr.fields]
        if expr in self._values:
            return self._values[expr]
        raise TypeError(f"cannot lower Relax value {type(expr).__name__}: {expr}")

    def _constant_name(self, expr: Constant) -> str:
        for known, name in self.named_constants:
            if known.same_as(expr):
                return name
        self.named_constants.append((expr, f"const{len(self.constants)}"))
        return self.named_constants[-1][1]

    def _new_activations(self, var: relax.Var):
        if isinstance(var.ty, relax.TupleType):
            return [self._new_buffer(field) for field in var.ty.fields]
        return self._new_buffer(var.ty)

    def _new_buffer(self, ty) -> str:
        name = f"t{sum(1 for b in self.buffers.values() if b.kind == 'activation')}"
        self.buffers[name] = Buffer(name, spec_of(ty), "activation")
        return name
