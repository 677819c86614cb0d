"""MaxPool and AveragePool (1-D, 2-D, 3-D), GlobalAveragePool and GlobalMaxPool.

A pool is imported in floor mode: ceil_mode=0, with end pads that give onnxruntime's
number of windows (`pool_sizes`) and leave no window overhanging the padded input. TVM
sizes such a pool as onnxruntime does, which it does not for ceil mode or for a window
overhanging a too-short input. Extra end padding changes no value of a MaxPool, nor of an
AveragePool that leaves the pads out of its count. One that counts them counts only
onnxruntime's pads: those become a zero Pad node in front, and the pool counts what lies
in that padded input.
"""

from __future__ import annotations

import numpy as np

from deepxc.errors import ShapeError, UnsupportedOp
from deepxc.ingest.importers.common import only_first_output, resolve_pads, spatial_rank
from deepxc.ingest.importers.pool_sizes import floor_end_pad, output_size
from deepxc.ir import Graph, Node, TensorSpec

# Windows starting in the begin padding that the import checks one by one: more means a
# pad far wider than any trained model's (onnxruntime wants pads smaller than the window).
MAX_WINDOWS_CHECKED = 1 << 16


def pool(node: Node, graph: Graph) -> Node:
    rank = spatial_rank(node, graph)
    only_first_output(node, "Indices")  # storage_order only matters for Indices
    kernel = list(node.attrs["kernel_shape"])
    pads = resolve_pads(node, graph, kernel, rank)
    strides = list(node.attrs.setdefault("strides", [1] * rank))
    dilations = list(node.attrs.setdefault("dilations", [1] * rank))
    ceil_mode = bool(node.attrs.get("ceil_mode", 0))
    spatial = graph.spec(node.inputs[0]).shape[2:]
    counts, ends = [], []
    for axis, size in enumerate(spatial):
        args = (size, kernel[axis], strides[axis], dilations[axis], pads[axis])
        counts.append(output_size(*args, pads[rank + axis], ceil_mode))
        ends.append(floor_end_pad(*args, pads[rank + axis], counts[-1]))
        _check_windows(node, axis, *args, counts[-1])
    _check_output_size(node, graph, counts)
    node.attrs.update(auto_pad="NOTSET", ceil_mode=0, pads=pads[:rank] + ends)
    if node.op == "AveragePool":
        node.attrs.setdefault("count_include_pad", 0)
        if node.attrs["count_include_pad"] and ends != pads[rank:]:
            _pad_explicitly(node, graph, pads)
    return node


def global_pool(node: Node, graph: Graph) -> Node:
    if len(graph.spec(node.inputs[0]).shape) < 3:
        raise UnsupportedOp(node.name, node.op, "input needs a spatial dimension")
    return node


def _check_windows(
    node: Node,
    axis: int,
    size: int,
    kernel: int,
    stride: int,
    dilation: int,
    begin: int,
    count: int,
) -> None:
    """Every window must reach the input: onnxruntime gives a window of padding alone the
    lowest float (MaxPool) or 0 (AveragePool), values no kernel here reproduces.

    A window starting inside the input reaches it with its first tap, and one starting
    past the end never does, so only the last window and those starting in the begin
    padding need a look; each in O(1): some tap t in [0, kernel) lands in [0, size)."""

    def reaches(index: int) -> bool:
        start = index * stride - begin
        first = max(0, -(start // dilation))  # the first tap at or after position 0
        last = min(kernel - 1, (size - 1 - start) // dilation)  # the last tap before the end
        return first <= last

    in_padding = min(count, -(-begin // stride))  # windows that start before position 0
    if in_padding > MAX_WINDOWS_CHECKED:
        raise UnsupportedOp(
            node.name,
            node.op,
            f"{in_padding:,} windows along spatial axis {axis} start in the padding",
        )
    for index in [*range(in_padding), count - 1]:
        if index >= 0 and not reaches(index):
            raise UnsupportedOp(
                node.name, node.op, f"window {index} along spatial axis {axis} covers only padding"
            )


def _check_output_size(node: Node, graph: Graph, counts: list[int]) -> None:
    inferred = graph.spec(node.outputs[0]).shape[2:]
    if list(inferred) != counts:
        raise ShapeError(
            f"node '{node.name}' ({node.op}): ONNX shape inference gives spatial size "
            f"{list(inferred)}, the pooling makes {counts} (a ceil_mode window that would start "
            "in the end padding is dropped); export with opset 22, or without ceil_mode"
        )


def _pad_explicitly(node: Node, graph: Graph, pads: list[int]) -> None:
    """Move the pads of an AveragePool that counts them into a zero Pad node in front; the
    pool then counts the elements of the padded input and no further end padding."""
    rank = len(pads) // 2
    source = node.inputs[0]
    spec = graph.spec(source)
    padded_shape = spec.shape[:2] + tuple(
        size + pads[axis] + pads[rank + axis] for axis, size in enumerate(spec.shape[2:])
    )
    padded = graph.fresh_name(f"{source}_padded")
    graph.tensors[padded] = TensorSpec(padded_shape, spec.dtype)
    widths = graph.add_constant(
        graph.fresh_name(f"{node.name}_pads"),
        np.array([0, 0, *pads[:rank], 0, 0, *pads[rank:]], np.int64),
    )
    # Opset 11 semantics (pads as an input), whatever the model's opset.
    pad = Node(graph.fresh_name(f"{node.name}_pad"), "Pad", [source, widths], [padded])
    pad.attrs.update(mode="constant", _opset=11)
    graph.add_node(pad)
    node.inputs = [padded, *node.inputs[1:]]
    node.attrs["pads"] = [0] * rank + [
        end - pads[rank + axis] for axis, end in enumerate(node.attrs["pads"][rank:])
    ]
    node.attrs["count_include_pad"] = 0
