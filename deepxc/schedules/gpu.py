"""GPU schedule rules: TVM's dlight rules, tried in order, and one of deepxc's own.

A kernel gets the first rule that takes it. dlight has no convolution rule: its Matmul
rule takes a dense layer or an ungrouped convolution as an implicit GEMM (8x8
work-items, 16 outputs each, tiles staged in local memory). A depthwise or grouped
convolution or a pooling window reduces over a few values per output; dlight's
reduction rules would give each output a whole work-group of 256 and a tree reduction
over them, nearly all of it idle, so `SmallReduction` gives such kernels one work-item
per output with the window summed in a loop, and the bias, Relu or residual add after it
in the same work-item (Fallback would make those a second kernel, the sums passed
through global memory). Longer reductions (a 1000-way softmax) get dlight's
GeneralReduction. dlight's Reduction rule is left out: it computes a grouped 1x1
convolution fused with its bias and Relu wrongly (272 channels in 4 groups, 14x14:
errors of the outputs' whole scale), and gives such a kernel a private array of 952
floats. The rest (layout copies, elementwise ops) gets dlight's Fallback: one work-item
per output.
"""

from __future__ import annotations

import math

import tvm
from tvm import s_tir, tirx
from tvm.s_tir import dlight as dl
from tvm.s_tir.dlight.analysis import normalize_prim_func
from tvm.s_tir.dlight.base import max_threads_per_block, try_inline

# A reduction over at most this many values per output runs in one work-item: up to
# the 256 work-items GeneralReduction would spend on each output instead.
SMALL_REDUCTION = 256


class SmallReduction(dl.gpu.Fallback):
    """Kernels whose every reduction is short: one work-item per output, the reduction a
    loop inside it. A kernel of one reduction (after inlining) and elementwise stages after
    it (bias, Relu, a residual add) computes those in the same work-item, so it is one
    OpenCL kernel; any other shape gets dlight's Fallback schedule (one kernel per stage)."""

    def apply(self, func: tirx.PrimFunc, target: tvm.target.Target, _: bool):
        if not isinstance(func, tirx.PrimFunc) or not self.is_target_available(target):
            return None
        extents = _reduction_extents(func)
        if not extents or max(extents) > SMALL_REDUCTION:
            return None
        try:
            return _reduction_then_epilogue(func, target)
        except s_tir.ScheduleError:
            return super().apply(func, target, _)


def _reduction_then_epilogue(func: tirx.PrimFunc, target: tvm.target.Target) -> s_tir.Schedule:
    sch = s_tir.Schedule(func)
    infos = normalize_prim_func(sch)
    if infos is None:
        raise s_tir.ScheduleError("not a block-structured kernel")
    infos = try_inline(sch, infos)
    if not infos or not infos[0].is_reduction() or any(i.is_reduction() for i in infos[1:]):
        raise s_tir.ScheduleError("not one reduction followed by elementwise stages")
    block = infos[0].block_rv
    loops = sch.get_loops(block)
    kinds = infos[0].dom_kind()
    spatial = [loop for loop, kind in zip(loops, kinds) if kind == "S"]
    reduce = [loop for loop, kind in zip(loops, kinds) if kind == "R"]
    if len(spatial) + len(reduce) != len(loops) or not reduce or not spatial:
        raise s_tir.ScheduleError("no spatial and reduction loops to split")
    sch.reorder(*spatial, *reduce)
    # no more work-items than outputs: an epilogue whose outputs do not depend on the
    # work-item (one output) would otherwise be run unguarded by every work-item of the
    # group, most of which never computed the sum (a mean to 1x1 came out 0)
    outputs = math.prod(int(sch.get(loop).extent) for loop in spatial)
    threads = min(max_threads_per_block(target), outputs)
    groups, items = sch.split(sch.fuse(*spatial), factors=[None, threads])
    sch.bind(groups, "blockIdx.x")
    sch.bind(items, "threadIdx.x")
    for epilogue in infos[1:]:
        sch.reverse_compute_at(epilogue.block_rv, items)
    if len(infos) > 1:  # the reduction's result lives in the work-item (a register)
        sch.set_scope(block, 0, "local")
    sch.decompose_reduction(block, reduce[0])
    return sch


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
