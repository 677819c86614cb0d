"""ConvTranspose (1-D, 2-D, 3-D): groups, strides, dilations, output_padding, and pads that
are explicit or follow from `output_shape` or `auto_pad`.

Its pads are resolved here, to explicit begin and end pads and an output_padding, as
onnxruntime resolves them: the total padding that gives the asked output size, the odd
row at the end for SAME_UPPER, at the beginning otherwise.
"""

from __future__ import annotations

from deepxc.errors import InvalidGraph, UnsupportedOp
from deepxc.ingest.importers.common import spatial_rank
from deepxc.ir import Graph, Node


def conv_transpose(node: Node, graph: Graph) -> Node:
    attrs = node.attrs
    rank = spatial_rank(node, graph)
    kernel = list(graph.spec(node.inputs[1]).shape[2:])
    _check_weights(node, graph, kernel)
    strides = list(attrs.get("strides", [1] * rank))
    dilations = list(attrs.get("dilations", [1] * rank))
    output_padding = list(attrs.get("output_padding", [0] * rank))
    pads = _pads(node, graph, kernel, strides, dilations, output_padding)
    for axis in range(rank):
        if output_padding[axis] >= strides[axis]:
            raise UnsupportedOp(
                node.name,
                node.op,
                f"output_padding {output_padding[axis]} on axis {axis + 2} is not below the "
                f"stride {strides[axis]}",
            )
        extent = (kernel[axis] - 1) * dilations[axis]
        if max(pads[axis], pads[axis + rank]) > extent:
            raise UnsupportedOp(
                node.name,
                node.op,
                f"pads {pads[axis]}, {pads[axis + rank]} on axis {axis + 2} exceed the dilated "
                f"kernel's extent {extent}",
            )
    attrs.update(
        kernel_shape=kernel,
        strides=strides,
        dilations=dilations,
        output_padding=output_padding,
        pads=pads,
        auto_pad="NOTSET",
        group=attrs.get("group", 1),
    )
    attrs.pop("output_shape", None)
    return node


def _pads(node: Node, graph: Graph, kernel, strides, dilations, output_padding) -> list[int]:
    """[begin..., end...] pads; with `output_shape` or SAME auto_pad, those giving that size
    (a larger size than no padding gives is made with output_padding)."""
    attrs = node.attrs
    rank = len(kernel)
    spatial = graph.spec(node.inputs[0]).shape[2:]
    auto_pad = attrs.get("auto_pad", "NOTSET") or "NOTSET"
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise UnsupportedOp(node.name, node.op, f"auto_pad={auto_pad}")
    if "output_shape" in attrs:
        wanted = list(attrs["output_shape"])[-rank:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = [size * stride for size, stride in zip(spatial, strides)]
    elif auto_pad == "VALID":
        return [0] * (2 * rank)
    else:
        pads = list(attrs.get("pads", [0] * (2 * rank)))
        if any(p < 0 for p in pads):
            raise UnsupportedOp(node.name, node.op, "negative pads")
        return pads
    begins, ends = [], []
    for axis in range(rank):
        full = (
            strides[axis] * (spatial[axis] - 1)
            + output_padding[axis]
            + (kernel[axis] - 1) * dilations[axis]
            + 1
        )
        total = full - wanted[axis]
        if total < 0:  # onnxruntime pads none and makes up the rest with output_padding
            output_padding[axis] -= total
            total = 0
        small, large = total // 2, total - total // 2
        begins.append(small if auto_pad == "SAME_UPPER" else large)
        ends.append(large if auto_pad == "SAME_UPPER" else small)
    return begins + ends


def _check_weights(node: Node, graph: Graph, kernel: list[int]) -> None:
    """Weights are [C, M / group, k...] for C input and M output channels (ONNX's shape
    inference checks the group, not the weights)."""
    channels = graph.spec(node.inputs[0]).shape[1]
    weights = list(graph.spec(node.inputs[1]).shape)
    group = node.attrs.get("group", 1)
    if weights[0] != channels:
        raise InvalidGraph(
            f"node '{node.name}' (ConvTranspose): weights of shape {weights} do not fit "
            f"{channels} input channels (expected [{channels}, M / group, ...])"
        )
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = list(graph.spec(node.inputs[2]).shape)
        if bias != [weights[1] * group]:
            raise InvalidGraph(
                f"node '{node.name}' (ConvTranspose): bias '{node.inputs[2]}' has shape {bias}, "
                f"expected [{weights[1] * group}]"
            )
    declared = node.attrs.get("kernel_shape")
    if declared is not None and list(declared) != kernel:
        raise InvalidGraph(
            f"node '{node.name}' (ConvTranspose): kernel_shape={list(declared)} differs from "
            f"the weights' window {kernel}"
        )
