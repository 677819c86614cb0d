"""Conv: 1-D, 2-D and 3-D, groups (depthwise), strides, dilations, explicit or automatic pads."""

from __future__ import annotations

from deepxc.errors import InvalidGraph
from deepxc.ingest.importers.common import resolve_pads, spatial_rank
from deepxc.ir import Graph, Node


def conv(node: Node, graph: Graph) -> Node:
    rank = spatial_rank(node, graph)
    kernel = list(graph.spec(node.inputs[1]).shape[2:])
    _check_kernel_and_groups(node, graph, kernel)
    node.attrs["kernel_shape"] = kernel
    node.attrs["pads"] = resolve_pads(node, graph, kernel, rank)
    node.attrs["auto_pad"] = "NOTSET"
    node.attrs.setdefault("strides", [1] * rank)
    node.attrs.setdefault("dilations", [1] * rank)
    node.attrs.setdefault("group", 1)
    return node


def _check_kernel_and_groups(node: Node, graph: Graph, kernel: list[int]) -> None:
    """The ONNX shape inference of Conv does not relate `group`, `kernel_shape` and the
    bias to the tensors; the kernels index by them, so a mismatch must stop here."""

    def fail(reason: str) -> None:
        raise InvalidGraph(f"node '{node.name}' (Conv): {reason}")

    channels = graph.spec(node.inputs[0]).shape[1]
    out_channels, group_channels = graph.spec(node.inputs[1]).shape[:2]
    group = node.attrs.get("group", 1)
    if not 1 <= group <= channels or channels % group:
        fail(f"group={group}: must be a positive divisor of the {channels} input channels")
    if group_channels * group != channels or out_channels % group:
        fail(
            f"weights of shape {list(graph.spec(node.inputs[1]).shape)} do not fit group="
            f"{group} and {channels} input channels (expected [M, {channels // group}, ...] "
            f"with M a multiple of {group})"
        )
    if len(node.inputs) > 2 and node.inputs[2]:
        bias = list(graph.spec(node.inputs[2]).shape)
        if bias != [out_channels]:
            fail(f"bias '{node.inputs[2]}' has shape {bias}, expected [{out_channels}]")
    declared = node.attrs.get("kernel_shape")
    if declared is not None and list(declared) != kernel:
        fail(f"kernel_shape={list(declared)} differs from the weights' window {kernel}")
