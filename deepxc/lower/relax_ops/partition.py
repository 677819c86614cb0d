"""A partition on another processor (`deepxc.ir.placement.PARTITION_OP`), as the CPU
program sees it: one call of an external function that the generated runtime defines
(it hands the inputs to the GPU, launches the partition's kernels and takes the outputs
back). Fusion never crosses it, so the CPU kernels around it read and write exactly the
tensors at the partition's border."""

from __future__ import annotations

from tvm import relax

from deepxc.ir import Node
from deepxc.lower.emit_context import EmitContext, tensor_type


def partition_symbol(node: Node) -> str:
    """The C function the runtime defines for the partition."""
    return f"dx_{node.attrs['processor']}_partition{node.attrs['index']}"


def device_partition(ctx: EmitContext, node: Node) -> list[relax.Expr]:
    out_types = [tensor_type(ctx.spec(tensor)) for tensor in node.outputs]
    call = relax.call_dps_packed(
        relax.ExternFunc(partition_symbol(node)),
        relax.Tuple([ctx.value(tensor) for tensor in node.inputs]),
        out_types if len(out_types) > 1 else out_types[0],
    )
    if len(out_types) == 1:
        return [call]
    result = ctx.bb.emit(call, name_hint=node.name)
    ctx.layer_names[result.name] = node.name
    return [relax.TupleGetItem(result, index) for index in range(len(out_types))]
