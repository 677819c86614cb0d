"""The arena a bundle of a graph would need, estimated without lowering it.

The bundle's arena comes from `plan_memory` over the lowered kernel calls: the activations,
then the kernels' scratch space. Before lowering, the same planner runs over the IR with one
kernel call per layer, except that an elementwise layer joins the call of the layer whose
output it alone reads (lowering fuses a Conv and its Relu into one kernel, and their
intermediate tensor never reaches the arena). Assumption: lowering fuses just those; where
it fuses more (or less) the estimate is above (or below) the bundle's activations. The
scratch space depends on the kernels TVM generates and is left out: the bundle's
`arena_bytes` is its activations plus `workspace_bytes`, both in manifest.json.
"""

from __future__ import annotations

from deepxc.artifacts import Buffer, KernelCall, LoweredPartition
from deepxc.emit.memory_plan import plan_memory
from deepxc.ir import Graph, Node

# Layers the lowering fuses into the kernel of the layer they follow.
ELEMENTWISE = {"Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Div"}


def estimate_arena_bytes(graph: Graph) -> int:
    """Arena bytes of the graph's activations, as the bundle's memory plan would place
    them, without the kernels' scratch space."""
    buffers = {}
    for name, spec in graph.tensors.items():
        if graph.is_constant(name):
            kind = "weight"
        elif name in graph.inputs:
            kind = "input"
        else:
            kind = "activation"
        buffers[name] = Buffer(name, spec, kind)
    calls = [
        KernelCall(group[0].op, _arguments(group), [node.name for node in group])
        for group in _fused_groups(graph)
    ]
    partition = LoweredPartition(
        processor="cpu",
        object_path=None,
        kernels=[],
        calls=calls,
        buffers=buffers,
        inputs=list(graph.inputs),
        outputs=list(graph.outputs),
    )
    return plan_memory(partition).arena_bytes


def _fused_groups(graph: Graph) -> list[list[Node]]:
    """The layers in order, each elementwise layer in the group of the layer whose output
    only it reads."""
    groups: list[list[Node]] = []
    group_of: dict[str, list[Node]] = {}
    for node in graph.nodes():
        group = None
        if node.op in ELEMENTWISE:
            group = next((group_of[t] for t in node.inputs if _fusable(graph, t)), None)
        if group is None:
            group = []
            groups.append(group)
        group.append(node)
        for tensor in node.outputs:
            group_of[tensor] = group
    return groups


def _fusable(graph: Graph, tensor: str) -> bool:
    producer = graph.producer(tensor) if tensor else None
    return (
        producer is not None and tensor not in graph.outputs and len(graph.consumers(tensor)) == 1
    )


def _arguments(group: list[Node]) -> list[str]:
    """The tensors a group's kernel reads and writes: not those passed inside it."""
    produced = {t for node in group for t in node.outputs}
    read = [t for node in group for t in node.inputs if t and t not in produced]
    inner = {t for node in group for t in node.inputs if t in produced}
    written = [t for node in group for t in node.outputs if t and t not in inner]
    return list(dict.fromkeys(read + written))
