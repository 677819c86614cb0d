"""Resize and Upsample: along each resized axis, a weighted sum of input pixels taken by
index (`resize_taps` computes which, and the weights, at build time), to the output size
shape inference gave."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from tvm import relax

from deepxc.lower.relax_ops.resize_taps import AxisResize, taps

if TYPE_CHECKING:
    from deepxc.ir import Node
    from deepxc.lower.emit_context import EmitContext


def resize(ctx: EmitContext, node: Node) -> list[relax.Expr | None]:
    attrs = node.attrs
    before = ctx.spec(node.inputs[0]).shape
    after = ctx.spec(node.outputs[0]).shape
    scales = _scales(ctx, node, before, after)
    y = ctx.value(node.inputs[0])
    if before == after and np.all(scales == 1):  # onnxruntime copies the input
        return [y]
    for axis in (2, 3):
        plan = AxisResize(
            size=before[axis],
            out=after[axis],
            scale=float(scales[axis]),
            coordinates=attrs["coordinate_transformation_mode"],
            mode=attrs["mode"],
            nearest_mode="simple" if attrs["_opset"] < 11 else attrs["nearest_mode"],
            cubic_coeff_a=attrs.get("cubic_coeff_a", -0.75),
            exclude_outside=bool(attrs.get("exclude_outside", 0)),
        )
        y = _weighted_taps(ctx, f"{node.name}_axis{axis}", y, axis, taps(plan))
    return [y]


def _weighted_taps(ctx: EmitContext, name: str, y: relax.Expr, axis: int, axis_taps):
    """The sum over taps of y taken at the tap's indices along `axis`, times its weights."""
    broadcast = [1, 1, 1, 1]
    broadcast[axis] = -1
    terms = []
    for k, (index, weight) in enumerate(axis_taps):
        # the indices are in range; "clip" keeps TVM from warning that "fast" is unchecked
        # 32-bit indices: every dimension is under 2**31 (ingest checks), and an embedded
        # GPU may have no 64-bit integers
        indices = index.astype(np.int32)
        term = relax.op.take(y, ctx.weight(f"{name}_index{k}", indices), axis, mode="clip")
        if weight is not None:
            term = relax.op.multiply(
                term, ctx.weight(f"{name}_weight{k}", weight.reshape(broadcast))
            )
        terms.append(term)
    return functools.reduce(relax.op.add, terms)


def _scales(ctx: EmitContext, node: Node, before, after) -> np.ndarray:
    """The scale ONNX maps each axis's coordinates with: the one given, else out / in (or,
    with keep_aspect_ratio_policy, the least or greatest of sizes / in over the resized
    axes)."""
    given = _given_scales(ctx, node, len(before))
    if given is not None:
        return given
    policy = node.attrs.get("keep_aspect_ratio_policy", "stretch")
    if policy == "stretch":
        return np.array(after, np.float32) / np.array(before, np.float32)
    axes = [int(a) % len(before) for a in node.attrs.get("axes", range(len(before)))]
    sizes = ctx.constant(node, 3, "sizes").astype(np.float32)
    pick = np.min if policy == "not_larger" else np.max
    scales = np.ones(len(before), np.float32)
    scales[axes] = pick(sizes / np.array(before, np.float32)[axes])
    return scales


def _given_scales(ctx: EmitContext, node: Node, rank: int) -> np.ndarray | None:
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
    full = np.ones(rank, np.float32)
    full[[int(a) % rank for a in axes]] = scales
    return full
