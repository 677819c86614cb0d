"""GPU schedule rules: TVM's dlight rules, tried in order, and one of deepxc's own.

A kernel gets the first rule that takes it. dlight has no convolution rule: its Matmul
rule takes a dense layer or an ungrouped convolution as an implicit GEMM (8x8 work-items, 16
outputs each, tiles staged in local memory). A depthwise convolution or a pooling window
reduces over a few values only; dlight's reduction rules would give each output a whole
work-group of 256 and a tree reduction over them, nearly all of it idle, so
`SmallReduction` gives such kernels one work-item per output with the window summed in a
loop. dlight's Reduction rule is left out: it computes a grouped 1x1 convolution fused
with its bias and Relu wrongly (272 channels in 4 groups, 14x14: errors of the outputs'
whole scale), and gives such a kernel a private array of 952 floats. Everything else
with no rule of its own (layout copies, elementwise ops, grouped convolutions) falls to
dlight's Fallback: one work-item per output.
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir import dlight as dl

# A reduction over at most this many values per output runs in one work-item: up to
# the 256 work-items GeneralReduction would spend on each output instead.
SMALL_REDUCTION = 256


class SmallReduction(dl.gpu.Fallback):
    """Kernels whose every reduction is short: one work-item per output (Fallback's
    schedule, which keeps reductions as loops inside the work-item)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, _: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        extents = _reduction_extents(func)
        if not extents or max(extents) > SMALL_REDUCTION:
            return None
        return super().apply(func, target, _)


RULES = [
    ("matmul", dl.gpu.Matmul()),
    ("gemv", dl.gpu.GEMV()),
    ("small_reduction", SmallReduction()),
    ("general_reduction", dl.gpu.GeneralReduction()),
    ("fallback", dl.gpu.Fallback()),
]


def schedule_gpu_kernel(
    func: tirx.PrimFunc, target: tvm.target.Target
) -> tuple[tirx.PrimFunc, str]:
    """`func` scheduled for `target`'s GPU, and the name of the rule that took it.
    Indices are narrowed to 32 bits first: 64-bit integers are optional on embedded GPUs
    (OpenCL's embedded profile)."""
    func = tirx.transform.ForceNarrowIndexToInt32()(tvm.IRModule({"main": func}))["main"]
    with target:
        for name, rule in RULES:
            scheduled = rule.apply(func, target, False)
            if isinstance(scheduled, list):
                scheduled = scheduled[0] if scheduled else None
            if scheduled is not None:
                return scheduled.mod["main"], name
    raise ValueError(f"no GPU schedule rule takes {func}")  # Fallback takes every kernel


def _reduction_extents(func: tirx.PrimFunc) -> list[int]:
    """Per block that reduces, the number of values each of its outputs reduces over."""
    sch = s_tir.Schedule(func)
    try:
        root = sch.get_sblock("root")
    except Exception:  # not a block-structured kernel
        return []
    extents = []
    for block in sch.get_child_blocks(root):
        reduce = [
            int(v.dom.extent)
            for v in sch.get(block).iter_vars
            if v.iter_type == tirx.IterVar.CommReduce
        ]
        if reduce:
            extents.append(math.prod(reduce))
    return extents
