"""Resize (opset 10 and later) and Upsample: nearest, linear and cubic on the two spatial
axes of NCHW data, in the coordinate transformations PyTorch and TensorFlow exports use."""

from __future__ import annotations

from deepxc.errors import UnsupportedOp
from deepxc.ingest.importers.common import spatial_rank
from deepxc.ir import Graph, Node

MODES = ("nearest", "linear", "cubic")
COORDINATE_MODES = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
    "tf_half_pixel_for_nn",
)
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")
# half_pixel_symmetric with nearest: onnxruntime's own float rounding of the coordinates
# decides which pixel is nearest at ties
UNSUPPORTED_PAIRS = {("half_pixel_symmetric", "nearest")}


def resize(node: Node, graph: Graph) -> Node:
    attrs = node.attrs
    spatial_rank(node, graph, allowed=(2,))
    if attrs["_opset"] < 11:  # Resize-10 and Upsample: asymmetric (nearest: see the emitter)
        attrs["coordinate_transformation_mode"] = "asymmetric"
    _choose(node, "mode", "nearest", MODES)
    _choose(node, "coordinate_transformation_mode", "half_pixel", COORDINATE_MODES)
    _choose(node, "nearest_mode", "round_prefer_floor", NEAREST_MODES)
    pair = (attrs["coordinate_transformation_mode"], attrs["mode"])
    if pair in UNSUPPORTED_PAIRS:
        raise UnsupportedOp(node.name, node.op, "{} with mode={}".format(*pair))
    if len(node.inputs) < 4 or not node.inputs[3]:  # the policy applies to sizes only
        attrs["keep_aspect_ratio_policy"] = "stretch"
    before = graph.spec(node.inputs[0]).shape
    after = graph.spec(node.outputs[0]).shape
    if before[:2] != after[:2]:
        raise UnsupportedOp(
            node.name,
            node.op,
            f"resizes {list(before)} to {list(after)}: only the two spatial axes (H, W) of "
            "NCHW data may change",
        )
    if attrs.get("antialias", 0) and any(a < b for a, b in zip(after[2:], before[2:])):
        raise UnsupportedOp(node.name, node.op, "antialias=1 when downsizing")
    return node


def upsample(node: Node, graph: Graph) -> Node:
    """Upsample (deprecated) is Resize-10, its scales an attribute before opset 9."""
    node.attrs["_opset"] = min(node.attrs["_opset"], 10)
    return resize(node, graph)


def _choose(node: Node, name: str, default: str, allowed: tuple[str, ...]) -> None:
    value = node.attrs.setdefault(name, default)
    if value not in allowed:
        raise UnsupportedOp(node.name, node.op, f"{name}={value} (supported: {', '.join(allowed)})")
