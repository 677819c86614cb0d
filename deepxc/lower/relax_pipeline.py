"""Relax -> fused TIR kernels, remembering which IR layers each kernel computes.

The passes are a plain list, in order. FuseOps renames the bindings it creates, so the
layer names of each fused kernel are recovered by matching its calls against the calls
made before fusion: a call is identified by the kernel it calls and the values it reads.
"""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.ir.expr import Constant

PASSES_BEFORE_FUSION = [
    relax.transform.DecomposeOpsForInference,
    relax.transform.LegalizeOps,
    relax.transform.AnnotateTIROpPattern,
    relax.transform.FoldConstant,
]
PASSES_FUSION = [lambda: SEPARATE_PARTITION_READERS, relax.transform.FuseOps]
PASSES_AFTER_FUSION = [relax.transform.FuseTIR, relax.transform.DeadCodeElimination]


def run_passes(
    module: tvm.IRModule, layer_names: dict[str, str]
) -> tuple[tvm.IRModule, list[list[str]]]:
    """Legalize and fuse; return the module and, per kernel call of `main` in order, the
    IR layers it computes. `layer_names` maps the binding names given at emission to
    layer names."""
    module = _sequence(PASSES_BEFORE_FUSION)(module)
    before = _call_keys(module["main"], {})
    owners = _binding_owners(list(before.values()), layer_names)
    module = _sequence(PASSES_FUSION)(module)
    layers = [
        list(dict.fromkeys(owners[name] for name in group if name in owners))
        for group in _fused_layers(module, before)
    ]
    module = _sequence(PASSES_AFTER_FUSION)(module)
    return module, layers


def _binding_owners(order: list[str], layer_names: dict[str, str]) -> dict[str, str]:
    """An emitter's helper bindings (auto-named) come right before the binding named after
    its layer: give them that layer too."""
    owners, pending = {}, []
    for name in order:
        pending.append(name)
        if name in layer_names:
            owners.update((helper, layer_names[name]) for helper in pending)
            pending = []
    return owners


def _sequence(passes: list) -> tvm.transform.Pass:
    return tvm.transform.Sequential([make() for make in passes])


def _bindings(func: relax.Function):
    for block in func.body.blocks:
        yield from block.bindings


def _name(expr: relax.Expr, names: dict) -> str:
    if isinstance(expr, relax.Var):
        return names.get(expr, expr.name)
    if isinstance(expr, relax.TupleGetItem):
        return f"{_name(expr.tuple_value, names)}[{expr.index}]"
    if isinstance(expr, Constant):  # wrappers are made afresh; the data stays put
        return f"<const at {expr.value.data_ptr()}>"
    return f"<{type(expr).__name__}>"


def _call_key(call: relax.Call, names: dict) -> tuple:
    callee, args = call.args[0], call.args[1]
    return (callee.name_hint, tuple(_name(a, names) for a in args.fields))


def is_call_tir(expr: relax.Expr) -> bool:
    return isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_tir"


def _call_keys(func: relax.Function, names: dict) -> dict[tuple, str]:
    return {_call_key(b.value, names): b.var.name for b in _bindings(func) if is_call_tir(b.value)}


def _fused_layers(module: tvm.IRModule, before: dict[tuple, str]) -> list[list[str]]:
    """Per call in the fused `main`, the pre-fusion binding names it computes."""
    names: dict = {}  # post-fusion main var -> pre-fusion name
    layers: list[list[str]] = []
    for binding in _bindings(module["main"]):
        value = binding.value
        if is_call_tir(value):
            names[binding.var] = before.get(_call_key(value, names), binding.var.name)
            layers.append([names[binding.var]])
            continue
        if not (isinstance(value, relax.Call) and isinstance(value.op, relax.GlobalVar)):
            continue
        fused = module[value.op]
        inner = {p: _name(a, names) for p, a in zip(fused.params, value.args)}
        members = []
        for inner_binding in _bindings(fused):
            if not is_call_tir(inner_binding.value):
                continue
            name = before.get(_call_key(inner_binding.value, inner), inner_binding.var.name)
            inner[inner_binding.var] = name
            members.append(name)
        names[binding.var] = members[-1] if members else binding.var.name
        layers.append(members)
    return layers


OPAQUE = 8  # TVM's OpPatternKind kOpaque: FuseOps fuses the call with nothing


def separate_partition_readers(module: tvm.IRModule, _context=None) -> tvm.IRModule:
    """Keep every kernel that reads a partition's output (another processor's: a
    `call_dps_packed`) out of fusion. The runtime waits for the partition right before
    that kernel; work fused into it (the convolution a residual add would end) could not
    run while the partition does. A kernel identical to such a reader elsewhere is left
    unfused too: Legalize shares one function between them."""
    made: set = set()  # values a partition makes: its call's, and items of its tuple
    readers = []
    for binding in _bindings(module["main"]):
        value = binding.value
        if is_call_dps_packed(value) or (
            isinstance(value, relax.TupleGetItem) and value.tuple_value in made
        ):
            made.add(binding.var)
        elif is_call_tir(value) and any(arg in made for arg in value.args[1].fields):
            readers.append(value.args[0])
    for function in dict.fromkeys(readers):
        module[function] = module[function].with_attr("op_pattern", OPAQUE)
    return module


SEPARATE_PARTITION_READERS = tvm.transform.module_pass(
    separate_partition_readers, opt_level=0, name="SeparatePartitionReaders"
)


def is_call_dps_packed(expr: relax.Expr) -> bool:
    return isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_dps_packed"
