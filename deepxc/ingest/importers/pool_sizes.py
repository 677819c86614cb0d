"""Pooling output sizes as onnxruntime computes them, and ONNX shape inference that uses them.

Along one axis of size `size` with pads `begin`, `end` and a window spanning
`(kernel - 1) * dilation + 1` elements, onnxruntime makes

- ceil_mode=0: `(size + begin + end - span) / stride + 1` windows, the division rounding
  toward zero: a window that overhangs a too-short input still counts once;
- ceil_mode=1: the division rounded up, less a last window that would start in the end
  padding (PyTorch's rule, and the ONNX spec's from opset 22 on).

ONNX's shape inference before opset 22 keeps that last window, so every shape after such a
pool comes out one too large. `infer_shapes` corrects this on a copy of the model in which
those pools are restated in floor mode (ceil_mode=0 with the end pads that give
onnxruntime's count), which every opset's inference sizes alike.
"""

from __future__ import annotations

import onnx
from onnx import helper, shape_inference

POOLS = ("MaxPool", "AveragePool")


def window_span(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def output_size(
    size: int, kernel: int, stride: int, dilation: int, begin: int, end: int, ceil_mode: bool
) -> int:
    """onnxruntime's number of windows along one axis."""
    reach = size + begin + end - window_span(kernel, dilation)
    if not ceil_mode:
        return int(reach / stride) + 1  # C's division, toward zero
    count = -(-reach // stride) + 1
    if (count - 1) * stride >= size + begin:  # the last window would start in the end padding
        count -= 1
    return count


def floor_end_pad(
    size: int, kernel: int, stride: int, dilation: int, begin: int, end: int, count: int
) -> int:
    """The end pad with which floor-mode pooling (ONNX's ceil_mode=0 without an overhang,
    and TVM's) makes `count` windows: `end`, or more where the windows reach further."""
    return max(end, (count - 1) * stride + window_span(kernel, dilation) - size - begin)


def infer_shapes(
    model: onnx.ModelProto, inferred: onnx.ModelProto | None = None
) -> onnx.ModelProto:
    """ONNX shape inference (strict, with data propagation) giving every MaxPool and
    AveragePool the output size onnxruntime computes; the model's own nodes are kept.
    `inferred`, if given, is `model` after ONNX's own strict inference, which is the
    answer where no pool needs correcting (no ceil-mode pool): inference does not run
    again then."""
    if not any(_ceil_mode(node) for node in model.graph.node):
        if inferred is None:
            inferred = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
        return inferred
    restated = onnx.ModelProto()
    restated.CopyFrom(model)
    # A pool whose size changes changes the shapes after it: the pools there are restated
    # in the next round, from shapes inferred afresh.
    while _restate_pools(
        shape_inference.infer_shapes(restated, strict_mode=False, data_prop=True),
        restated.graph,
    ):
        pass
    corrected = shape_inference.infer_shapes(restated, strict_mode=True, data_prop=True)
    result = onnx.ModelProto()
    result.CopyFrom(model)
    for field in ("value_info", "output"):
        del getattr(result.graph, field)[:]
        getattr(result.graph, field).extend(getattr(corrected.graph, field))
    return result


def _ceil_mode(node: onnx.NodeProto) -> bool:
    """A pool whose size ONNX's inference may get wrong (SAME pads size by the stride alone)."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    same = attrs.get("auto_pad", b"NOTSET") in (b"SAME_UPPER", b"SAME_LOWER")
    return node.op_type in POOLS and bool(attrs.get("ceil_mode", 0)) and not same


def _restate_pools(inferred: onnx.ModelProto, graph: onnx.GraphProto) -> bool:
    """Restate in floor mode the ceil-mode pools of `graph` whose input shapes `inferred`
    has right: all but those after a pool whose size it had wrong. True when such a pool
    was resized, so that another round may be needed."""
    shapes = _static_shapes(inferred.graph)
    stale: set[str] = set()  # tensors after a resized pool
    for node in graph.node:
        if stale.intersection(node.input):
            stale.update(node.output)
        elif _ceil_mode(node) and node.input[0] in shapes:
            counts = _restate(node, shapes[node.input[0]][2:])
            if shapes.get(node.output[0], [])[2:] != counts:
                stale.update(node.output)
    return bool(stale)


def _restate(node: onnx.NodeProto, spatial: list[int]) -> list[int]:
    """Rewrite a ceil-mode pool in floor mode; return its output size."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    rank = len(spatial)
    strides = attrs.get("strides", [1] * rank)
    dilations = attrs.get("dilations", [1] * rank)
    pads = list(attrs.get("pads", [0] * 2 * rank))
    if attrs.get("auto_pad", b"NOTSET") == b"VALID":
        pads = [0] * 2 * rank
    counts = []
    for axis, size in enumerate(spatial):
        args = (size, attrs["kernel_shape"][axis], strides[axis], dilations[axis], pads[axis])
        counts.append(output_size(*args, pads[rank + axis], True))
        pads[rank + axis] = floor_end_pad(*args, pads[rank + axis], counts[-1])
    kept = [a for a in node.attribute if a.name not in ("ceil_mode", "pads", "auto_pad")]
    del node.attribute[:]
    node.attribute.extend([*kept, helper.make_attribute("pads", pads)])
    return counts


def _static_shapes(graph: onnx.GraphProto) -> dict[str, list[int]]:
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.HasField("shape") and all(d.HasField("dim_value") for d in dims):
            shapes[value.name] = [d.dim_value for d in dims]
    return shapes
