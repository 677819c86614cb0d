"""Resize and Upsample through Relax's resize2d, to the output size shape inference gave."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

from deepxc.errors import UnsupportedOp

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext

_METHODS = {"nearest": "nearest_neighbor", "linear": "linear", "cubic": "cubic"}


def resize(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    before = ctx.spec(node.inputs[0]).shape
    after = ctx.spec(node.outputs[0]).shape
    scales = _given_scales(ctx, node)
    if scales is not None:
        _check_whole_sizes(node, before, after, scales)
    mode = attrs["coordinate_transformation_mode"]
    size = [int(d) for d in after[2:]]
    if mode == "align_corners":  # its ratio (in - 1) / (out - 1) has no value for out = 1
        size = [max(d, 2) for d in size]  # ONNX reads row 0 there, as out = 2 does
    y = relax.op.image.resize2d(
        ctx.value(node.inputs[0]),
        size,
        layout="NCHW",
        method=_METHODS[attrs["mode"]],
        coordinate_transformation_mode=mode,
        rounding_method=attrs["nearest_mode"],
        cubic_alpha=attrs.get("cubic_coeff_a", -0.75),
        cubic_exclude=attrs.get("exclude_outside", 0),
    )
    if size != list(after[2:]):
        y = relax.op.strided_slice(y, axes=[2, 3], begin=[0, 0], end=list(after[2:]))
    return [y]


def _given_scales(ctx: EmitContext, node: Node) -> np.ndarray | None:
    """The scale of each axis, where the node gives scales rather than sizes."""
    if "scales" in node.attrs:  # Upsample before opset 9
        return np.asarray(node.attrs["scales"], np.float32)
    slot = 1 if node.attrs["_opset"] < 11 else 2
    if len(node.inputs) <= slot or not node.inputs[slot]:
        return None
    scales = ctx.constant(node, slot, "scales").astype(np.float32).reshape(-1)
    if scales.size == 0:  # an empty tensor stands for none (sizes are given)
        return None
    axes = node.attrs.get("axes")
    if axes is None:
        return scales
    full = np.ones(len(ctx.spec(node.inputs[0]).shape), np.float32)
    full[[int(a) % full.size for a in axes]] = scales
    return full


def _check_whole_sizes(node: Node, before, after, scales: np.ndarray) -> None:
    """ONNX maps coordinates with the scale given; the kernel with out / in, which is the
    same where the scale makes a whole size."""
    for axis in (2, 3):
        size, scale = before[axis], float(scales[axis])
        if np.float32(size) * np.float32(scale) != after[axis]:
            raise UnsupportedOp(
                node.name,
                node.op,
                f"scale {scale:g} of axis {axis} (size {size}) gives {size * scale:g}, not a "
                "whole size: give sizes, or a scale that makes a whole size",
            )
