"""Split a layer group's output channels into ranges computed by separate copies of it.

A group (a Conv with group 1, or a dense Gemm/MatMul with constant weights, then ops that
each work on one channel at a time) computes output channel c from channel c of its
anchor alone, so the group copied once per channel range [lo, hi), with every per-channel
constant sliced to that range, computes those channels; a Concat along axis 1 of the
copies writes the original output tensor, so the group's consumers are unchanged.

Channel-local ops: unary ops, and Add/Sub/Mul/Div/Clip/PRelu/BatchNormalization whose
other operands are constants that are scalars or broadcast per channel (or tensors the
group itself makes). An operand made outside the group (a residual Add of another
activation) is not sliced with the group, so such a group cannot be split.
"""

from __future__ import annotations

import numpy as np

from deepxc.errors import DeepxcError
from deepxc.ir.graph import Graph, Node, TensorSpec
from deepxc.ir.layers import dense_weights

UNARY_OPS = {
    "Relu",
    "Sigmoid",
    "Tanh",
    "LeakyRelu",
    "HardSigmoid",
    "HardSwish",
    "Elu",
    "Selu",
    "Softplus",
    "Abs",
    "Neg",
    "Exp",
    "Sqrt",
    "Erf",
    "Identity",
    "Dropout",
}
BINARY_OPS = {"Add", "Sub", "Mul", "Div", "Clip", "PRelu", "BatchNormalization", "Sum"}


class SliceError(DeepxcError):
    """A layer group whose output channels cannot be split."""


def channel_plan(graph: Graph, layers: list[str]) -> dict[str, int | None]:
    """How each constant the group reads is sliced for a range of output channels: the
    axis to slice it along, or None to keep it whole. Raises SliceError naming the layer
    and the reason when the group's channels cannot be split."""
    unknown = [name for name in layers if name not in graph.dag]
    if unknown or not layers:
        raise SliceError(f"channel slicing: no layer named {', '.join(map(repr, unknown))}")
    chosen = set(layers)
    nodes = [node for node in graph.nodes() if node.name in chosen]
    anchor, rest = nodes[0], nodes[1:]
    plan = _anchor_plan(graph, anchor)
    channels = output_channels(graph, anchor)
    rank = len(graph.spec(anchor.outputs[0]).shape)
    made = {anchor.outputs[0]}
    for node in rest:
        where = f"layer '{node.name}' ({node.op})"
        if node.op not in UNARY_OPS | BINARY_OPS or len(node.outputs) != 1:
            raise SliceError(f"channel slicing: {where} is not channel-local")
        if graph.spec(node.outputs[0]).shape != graph.spec(anchor.outputs[0]).shape:
            raise SliceError(f"channel slicing: {where} changes the shape")
        for tensor in node.inputs:
            if not tensor or tensor in made:
                continue
            if not graph.is_constant(tensor):
                raise SliceError(
                    f"channel slicing: {where} reads '{tensor}', made outside the group"
                )
            if node.op == "BatchNormalization":
                plan[tensor] = 0
            else:
                plan[tensor] = _broadcast_axis(graph, tensor, rank, channels, where)
        made.add(node.outputs[0])
    leaving = [
        t
        for node in nodes
        for t in node.outputs
        if t and (t in graph.outputs or any(c.name not in chosen for c in graph.consumers(t)))
    ]
    if leaving != [nodes[-1].outputs[0]]:
        raise SliceError(
            f"channel slicing: the group of '{anchor.name}' must have one output, made by its "
            f"last layer (it has {', '.join(leaving) or 'none'})"
        )
    return plan


def output_channels(graph: Graph, anchor: Node) -> int:
    return int(graph.spec(anchor.outputs[0]).shape[1])


def slice_output_channels(
    graph: Graph, layers: list[str], bounds: list[tuple[int, int]]
) -> tuple[Graph, list[list[str]], str]:
    """A new graph (`graph` is untouched) in which the group `layers` is copied once per
    channel range of `bounds` (they must tile [0, channels) in order); copy i of layer L
    is named f"{L}@{i}" and writes f"{tensor}@{i}". Returns the graph, the layers of each
    slice, and the name of the Concat that joins the slices into the group's output."""
    plan = channel_plan(graph, layers)
    chosen = set(layers)
    nodes = [node for node in graph.nodes() if node.name in chosen]
    output = nodes[-1].outputs[0]
    channels = output_channels(graph, nodes[0])
    _check_bounds(bounds, channels, nodes[0].name)
    made = {t for node in nodes for t in node.outputs if t}
    sliced = graph.copy()
    for node in nodes:
        sliced.remove_node(node.name)
    for tensor in made - {output}:
        del sliced.tensors[tensor]
    groups, pieces = [], []
    for index, (lo, hi) in enumerate(bounds):
        names = {t: f"{t}@{index}" for t in made}
        for constant, axis in plan.items():
            if axis is not None:
                value = graph.constants[constant]
                taken = np.take(value, range(lo, hi), axis=axis)
                name = f"{constant}@{index}"
                name = sliced.fresh_name(name) if name in sliced.tensors else name
                names[constant] = sliced.add_constant(name, taken)
        for node in nodes:
            for tensor in node.outputs:
                shape = list(graph.spec(tensor).shape)
                shape[1] = hi - lo
                sliced.tensors[names[tensor]] = TensorSpec(tuple(shape), graph.spec(tensor).dtype)
            sliced.add_node(
                Node(
                    f"{node.name}@{index}",
                    node.op,
                    [names.get(t, t) for t in node.inputs],
                    [names.get(t, t) for t in node.outputs],
                    dict(node.attrs),
                )
            )
        groups.append([f"{node.name}@{index}" for node in nodes])
        pieces.append(names[output])
    concat = f"{nodes[-1].name}@concat"
    opset = {"_opset": nodes[-1].attrs["_opset"]} if "_opset" in nodes[-1].attrs else {}
    sliced.add_node(Node(concat, "Concat", pieces, [output], {"axis": 1, **opset}))
    sliced.drop_unused_constants()
    return sliced, groups, concat


def _anchor_plan(graph: Graph, anchor: Node) -> dict[str, int | None]:
    where = f"layer '{anchor.name}' ({anchor.op})"
    if anchor.op == "Conv":
        if anchor.attrs.get("group", 1) != 1:
            raise SliceError(f"channel slicing: {where} is a grouped convolution")
        weights = [t for t in anchor.inputs[1:] if t]
        if not all(graph.is_constant(t) for t in weights):
            raise SliceError(f"channel slicing: {where} has weights that are not constants")
        return dict.fromkeys(weights, 0)
    if anchor.op in ("Gemm", "MatMul") and dense_weights(graph, anchor) is not None:
        weight = anchor.inputs[1]
        plan = {weight: 0 if anchor.attrs.get("transB", 0) else 1}
        if anchor.op == "Gemm" and len(anchor.inputs) > 2 and anchor.inputs[2]:
            bias = anchor.inputs[2]
            if not graph.is_constant(bias):
                raise SliceError(f"channel slicing: {where} has a bias that is not a constant")
            channels = output_channels(graph, anchor)
            plan[bias] = _broadcast_axis(graph, bias, 2, channels, where)
        return plan
    raise SliceError(
        f"channel slicing: {where} is not a convolution of group 1 or a dense layer with "
        "constant weights"
    )


def _broadcast_axis(graph: Graph, constant: str, rank: int, channels: int, where: str):
    """The axis of `constant` that runs along the output channels (axis 1 of an output of
    `rank` dimensions) when it is broadcast against the output; None when it has none
    (a scalar, or size 1 there). SliceError if it varies along another axis."""
    shape = graph.spec(constant).shape
    if len(shape) > rank:
        raise SliceError(f"channel slicing: {where} reads '{constant}' of rank {len(shape)}")
    aligned = (1,) * (rank - len(shape)) + tuple(shape)
    if any(d != 1 for axis, d in enumerate(aligned) if axis != 1):
        raise SliceError(f"channel slicing: {where} reads '{constant}', not per channel")
    if aligned[1] == 1:
        return None
    if aligned[1] != channels:
        raise SliceError(f"channel slicing: {where} reads '{constant}' of shape {list(shape)}")
    return 1 - (rank - len(shape))


def _check_bounds(bounds: list[tuple[int, int]], channels: int, name: str) -> None:
    edges = [0] + [hi for _, hi in bounds]
    tiles = all(lo == edges[i] and hi > lo for i, (lo, hi) in enumerate(bounds))
    if not bounds or not tiles or edges[-1] != channels:
        raise SliceError(
            f"channel slicing of '{name}': ranges {bounds} do not tile its {channels} channels"
        )
