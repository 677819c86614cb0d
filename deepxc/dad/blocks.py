"""The model's unit blocks: its layers grouped as the lowering fuses them into kernels,
the tensors between the groups, and slices of a group's output channels.

The grouping follows TVM's operator fusion (relax.transform.FuseOps, which the lowering
runs), applied to IR layers with the pattern each layer's kernel has: a layer fuses into
its immediate post-dominator (the first layer every path from it reaches) when the
layers on those paths allow it.
- An anchor (convolution, dense, pooling, a mean, softmax: a kernel that may only take
  elementwise work after it) takes the elementwise layers after it while every path to
  the post-dominator is elementwise.
- A plain reduction (ReduceMax, ReduceSum, GlobalMaxPool: one reducing kernel) takes
  nothing after it.
- An elementwise layer fuses forward into elementwise or injective layers or a plain
  reduction (not into an anchor: a Relu before a MaxPool stays a kernel of its own).
- Injective layers (Reshape, Transpose, Concat...) fuse with injective or elementwise
  layers after them, once the anchors are done; elementwise or injective producers then
  join a Concat whose group holds no anchor.
- Identity and Dropout (left only where they write a model output) make no kernel; they
  join their producer's block.
A layer the lowering splits into several kernels (an opset-11 Softmax: three) counts
them in `UnitBlock.kernels`.

Checked against the lowering's kernel calls on the light zoo (every group equal) and on
hand-made graphs. Known differences, both in kernel counts only: a Resize in linear or
cubic mode is several kernels (one per axis and tap) and the last takes the elementwise
layers after it; a ConvTranspose with strides makes more than two kernels (the input
dilated, then padded).
"""

from __future__ import annotations

import math

import networkx as nx

from deepxc.dad.unit_block import UnitBlock
from deepxc.errors import DeepxcError
from deepxc.ir.graph import Graph, Node
from deepxc.ir.slice_channels import SliceError, channel_plan, output_channels
from deepxc.ir.stats import layer_macs

# TVM's OpPatternKind values (kElemWise, kInjective, kCommReduce, kOutEWiseFusable,
# kTuple, kOpaque). Pools and means, which TVM's analysis of their kernels finds
# output-elementwise-fusable as it does a conv, are anchors here too.
ELEMWISE, INJECTIVE, REDUCE, ANCHOR, TUPLE, OPAQUE = 0, 2, 3, 4, 7, 8

POOL_OPS = {  # the "pool" kind
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
    "ReduceMean",
    "ReduceSum",
    "ReduceMax",
    "ReduceMin",
}
ANCHOR_OPS = POOL_OPS | {
    "Conv",
    "ConvTranspose",
    "Gemm",
    "MatMul",
    "Softmax",
    "LogSoftmax",
    "LRN",
    "LayerNormalization",
}
INJECTIVE_OPS = {
    "Reshape",
    "Flatten",
    "Transpose",
    "Concat",
    "Squeeze",
    "Unsqueeze",
    "Slice",
    "Split",
    "Gather",
    "Expand",
    "Pad",
}
OPAQUE_OPS = {"Resize", "Upsample"}  # kernels that nothing fuses into or after
# Gather's first kernel (a take of constant indices) takes nothing fused before it; its
# second (a reshape) is injective
OPAQUE_INPUT_OPS = {"Gather"}
# one reduction kernel (no division after it): it takes the elementwise layers before it,
# and nothing after it
REDUCE_OPS = {"GlobalMaxPool", "ReduceMax", "ReduceMin", "ReduceSum"}
NO_KERNEL_OPS = {"Identity", "Dropout"}


def unit_blocks(graph: Graph, align: int = 4) -> list[UnitBlock]:
    """The layers of `graph` grouped as the lowering fuses them, in topological order.
    A block is sliceable when `deepxc.ir.slice_channels` can split it (a Conv of group 1
    or a dense layer, then channel-local layers; not a block whose Add reads another
    activation, as a residual connection does) and it has 2 * `align` output channels
    or more."""
    groups = _fuse(graph)
    order = {node.name: index for index, node in enumerate(graph.nodes())}
    members: dict[str, list[str]] = {}
    for node in graph.nodes():
        members.setdefault(groups[node.name], []).append(node.name)
    blocks = [_block(graph, layers, align) for layers in members.values()]
    by_name = {block.name: block for block in blocks}
    first = {block.name: order[block.layers[0]] for block in blocks}
    condensed = nx.DiGraph()
    condensed.add_nodes_from(by_name)
    condensed.add_edges_from(edge[:2] for edge in block_edges(graph, blocks))
    # a block's first layer may come after a layer of a block it reads (a fused Add's
    # other operand), so the blocks are ordered by their own edges
    return [by_name[name] for name in nx.lexicographical_topological_sort(condensed, first.get)]


def block_edges(graph: Graph, blocks: list[UnitBlock]) -> list[tuple[str, str, int]]:
    """(producer block, consumer block, bytes) for every pair of blocks a tensor flows
    between, the bytes of all the tensors between them summed."""
    owner = {tensor: block.name for block in blocks for tensor in block.outputs}
    edges: dict[tuple[str, str], int] = {}
    for block in blocks:
        for tensor in block.inputs:
            if tensor in owner:
                key = (owner[tensor], block.name)
                edges[key] = edges.get(key, 0) + graph.spec(tensor).nbytes
    return [(src, dst, nbytes) for (src, dst), nbytes in edges.items()]


def channel_bounds(channels: int, parts: int, align: int = 4) -> list[tuple[int, int]]:
    """`parts` ranges tiling [0, channels), as equal as multiples of `align` allow."""
    if parts < 1 or channels < parts * align:
        raise DeepxcError(f"cannot split {channels} channels in {parts} parts of {align} or more")
    cuts = [0] + [round(channels * k / parts / align) * align for k in range(1, parts)]
    return list(zip(cuts, cuts[1:] + [channels]))


def slice_blocks(
    block: UnitBlock, parts: int, align: int = 4, bounds: list[tuple[int, int]] | None = None
) -> list[UnitBlock]:
    """`block` split into `parts` slices of its output channels (`channel_bounds`, or the
    given `bounds`). Each slice reads the whole input; its MACs, output bytes and weight
    bytes are its share of the channels (rounded so the slices sum to the whole). Layer
    and tensor names are those `slice_output_channels` gives the copies."""
    if not block.sliceable:
        raise DeepxcError(f"block '{block.name}': its output channels cannot be split")
    bounds = bounds or channel_bounds(block.channels, parts, align)
    slices = []
    for index, (lo, hi) in enumerate(bounds):

        def share(total: int, lo: int = lo, hi: int = hi) -> int:
            return total * hi // block.channels - total * lo // block.channels

        slices.append(
            UnitBlock(
                name=f"{block.name}@{index}of{len(bounds)}",
                layers=[f"{layer}@{index}" for layer in block.layers],
                kind=block.kind,
                macs=share(block.macs),
                ops=share(block.ops),
                kernels=block.kernels,
                bytes_in=block.bytes_in,
                bytes_out=share(block.bytes_out),
                weight_bytes=share(block.weight_bytes),
                inputs=list(block.inputs),
                outputs=[f"{tensor}@{index}" for tensor in block.outputs],
                channels=hi - lo,
                slice_of=block.name,
                slice_index=index,
                slices=len(bounds),
                channel_range=(lo, hi),
            )
        )
    return slices


def _kind(graph: Graph, node: Node) -> str:
    if node.op in ("Conv", "ConvTranspose"):
        group = node.attrs.get("group", 1)
        depthwise = group > 1 and group == graph.spec(node.inputs[0]).shape[1]
        return "depthwise" if depthwise else "conv"
    if node.op in ("Gemm", "MatMul"):
        return "dense"
    if node.op in POOL_OPS:
        return "pool"
    return "elementwise"


def _block(graph: Graph, layers: list[str], align: int) -> UnitBlock:
    nodes = [graph.node(name) for name in layers]
    chosen = set(layers)
    made = [t for node in nodes for t in node.outputs if t]
    read = list(dict.fromkeys(t for node in nodes for t in node.inputs if t))
    inputs = [t for t in read if t not in made and not graph.is_constant(t)]
    # weights: the float constants (an integer one is a shape or index, read at build time)
    weights = [t for t in read if graph.is_constant(t) and graph.constants[t].dtype.kind == "f"]
    outputs = [
        t
        for t in made
        if t in graph.outputs or any(c.name not in chosen for c in graph.consumers(t))
    ]
    anchor = next((node for node in nodes if node.op in ANCHOR_OPS), nodes[0])
    kernels = sum(_kernels(node) - 1 for node in nodes) + 1
    if all(node.op in NO_KERNEL_OPS for node in nodes):
        kernels = 0
    try:
        channel_plan(graph, layers)
        channels = output_channels(graph, anchor)
        sliceable = channels >= 2 * align
    except SliceError:
        sliceable, channels = False, _channels(graph, outputs)
    return UnitBlock(
        name=anchor.name,
        layers=layers,
        kind=_kind(graph, anchor),
        macs=sum(layer_macs(graph, node) for node in nodes),
        ops=sum(pool_ops(graph, node) for node in nodes),
        kernels=kernels,
        bytes_in=sum(graph.spec(t).nbytes for t in inputs),
        bytes_out=sum(graph.spec(t).nbytes for t in outputs),
        weight_bytes=sum(graph.spec(t).nbytes for t in weights),
        inputs=inputs,
        outputs=outputs,
        sliceable=sliceable,
        channels=channels,
    )


def pool_ops(graph: Graph, node: Node) -> int:
    """A pooling layer's window reads: output elements x window (MaxPool, AveragePool,
    LpPool), or its input elements (a global pool or a reduction reads each once); 0 for
    any other layer."""
    if node.op not in POOL_OPS:
        return 0
    if node.op in ("MaxPool", "AveragePool", "LpPool"):
        window = math.prod(node.attrs.get("kernel_shape", [1]))
        return int(graph.spec(node.outputs[0]).size) * int(window)
    return int(graph.spec(node.inputs[0]).size)


def _kernels(node: Node) -> int:
    """The kernels the lowering makes of one layer (a group shares its first)."""
    if node.op in ("Softmax", "LogSoftmax") and node.attrs.get("_opset", 13) < 13:
        return 3  # over a 2-D view of the input: reshape, softmax, reshape back
    if node.op in ("LRN", "LayerNormalization"):
        return 3  # squares, their window or mean (a pool, a reduction), the division
    if node.op in OPAQUE_OPS | OPAQUE_INPUT_OPS | {"ConvTranspose"}:
        return 2  # a Resize's two axes; a Gather's take and reshape; a ConvTranspose's
        # weights flipped, then the convolution
    return 1


def _channels(graph: Graph, outputs: list[str]) -> int:
    shapes = [graph.spec(t).shape for t in outputs]
    return int(shapes[0][1]) if len(shapes) == 1 and len(shapes[0]) >= 2 else 0


def _pattern(node: Node) -> int:
    if node.op in REDUCE_OPS:
        return REDUCE
    if node.op in ANCHOR_OPS:
        return ANCHOR
    if node.op in INJECTIVE_OPS | OPAQUE_INPUT_OPS:
        return INJECTIVE
    if node.op in OPAQUE_OPS:
        return OPAQUE
    return ELEMWISE


def _fuse(graph: Graph) -> dict[str, str]:
    """Per layer, the name of a layer that stands for its group (TVM's FuseOps phases,
    with the post-dominator tree it builds: `_post_dominators`)."""
    nodes = graph.nodes()
    pattern = {node.name: _pattern(node) for node in nodes}
    consumers = {
        node.name: [c.name for t in node.outputs if t for c in graph.consumers(t)] for node in nodes
    }
    parent, path_pattern = _post_dominators(graph, nodes, consumers, pattern)
    sets = nx.utils.UnionFind()
    root_of: dict[str, str] = {name: name for name in pattern}  # union-find root -> sink
    group_pattern = dict(pattern)  # per layer, of the group it was the sink of when it was

    def root(name: str) -> str:
        return root_of[sets[name]]

    def on_paths(src: str, sink: str) -> list[str]:
        seen, stack = [], list(consumers[src])
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.append(name)
            if name != sink:
                stack.extend(consumers[name])
        return seen

    def path_ok(src: str, sink: str, allowed) -> bool:
        return all(allowed(group_pattern[root(n)], n == sink) for n in on_paths(src, sink))

    def commit(src: str, sink: str) -> None:
        target = root(sink)
        for name in [src] + on_paths(src, sink):
            child = root(name)
            if child == target:
                continue
            if group_pattern[child] == ANCHOR:
                group_pattern[target] = max(group_pattern[target], ANCHOR)
            sets.union(child, target)
            root_of[sets[target]] = target

    for phase in (0, 1, 2):
        for node in nodes:
            name, dom = node.name, parent[node.name]
            if dom is None:
                continue
            own = group_pattern[name]  # its own group's: an anchor's once it took one
            if phase == 2:  # into a Concat (the Relax tuple it reads) whose group has no anchor
                into_concat = graph.node(dom).op == "Concat"
                if own <= INJECTIVE and into_concat and group_pattern[root(dom)] <= INJECTIVE:
                    if path_ok(name, dom, lambda kind, _sink: kind <= INJECTIVE):
                        commit(name, dom)
                continue
            if root(name) == root(dom) or path_pattern[name] >= TUPLE:
                continue
            if own == ANCHOR and phase == 0 and path_pattern[name] == ELEMWISE:
                if path_ok(name, dom, lambda kind, _sink: kind == ELEMWISE):
                    commit(name, dom)
            elif own == ELEMWISE and path_pattern[name] in (ELEMWISE, INJECTIVE, REDUCE):
                if path_ok(name, dom, lambda kind, sink: kind <= INJECTIVE or sink):
                    commit(name, dom)
            elif own == INJECTIVE and phase == 1:
                if path_ok(name, dom, lambda kind, _sink: kind <= INJECTIVE):
                    commit(name, dom)
    groups = {name: root(name) for name in pattern}
    for node in nodes:  # layers that make no kernel go with their producer
        producers = [graph.producer(t) for t in node.inputs if t and graph.producer(t)]
        if node.op in NO_KERNEL_OPS and producers:
            groups[node.name] = groups[producers[0].name]
    return groups


def _post_dominators(graph: Graph, nodes: list[Node], consumers, pattern):
    """Per layer its immediate post-dominator (None for a layer that writes a model
    output or that nothing reads) and the largest pattern on the paths to it (a Concat's
    input counts as TUPLE, as the Relax tuple it reads), as TVM's DominatorTree has it."""
    parent: dict[str, str | None] = {}
    depth: dict[str, int] = {}
    path_pattern: dict[str, int] = {}
    for node in reversed(nodes):
        name = node.name
        if not consumers[name] or any(t in graph.outputs for t in node.outputs):
            parent[name], depth[name], path_pattern[name] = None, 1, OPAQUE
            continue
        combined = 0
        lca: str | None = None
        for index, consumer in enumerate(consumers[name]):
            op = graph.node(consumer).op
            edge = (
                TUPLE if op == "Concat" else OPAQUE if op in OPAQUE_INPUT_OPS else pattern[consumer]
            )
            combined = max(combined, edge)
            if index == 0:
                lca = consumer
                continue
            lca, combined = _common_ancestor(lca, consumer, parent, depth, path_pattern, combined)
        parent[name] = lca
        depth[name] = depth[lca] + 1 if lca is not None else 1
        path_pattern[name] = combined
    return parent, path_pattern


def _common_ancestor(lhs, rhs, parent, depth, path_pattern, combined):
    while lhs != rhs:
        if lhs is None or rhs is None:
            return None, combined
        if depth[lhs] < depth[rhs]:
            combined = max(combined, path_pattern[rhs])
            rhs = parent[rhs]
        elif depth[rhs] < depth[lhs]:
            combined = max(combined, path_pattern[lhs])
            lhs = parent[lhs]
        else:
            combined = max(combined, path_pattern[lhs], path_pattern[rhs])
            lhs, rhs = parent[lhs], parent[rhs]
    return lhs, combined
