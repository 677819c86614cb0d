"""deepxc's CPU schedule rules over TVM's TIR schedule primitives.

Kernels that deepxc computes itself (convolution, depthwise convolution, dense) carry a
`deepxc_rule` annotation on their main block, set when the compute is built; the rule of
that name tiles the kernel for the target's vector unit. Every other top-level loop nest
(pooling, elementwise ops, layout copies, a rule's padding stage) gets the generic rule:
elementwise chains inlined, the inner loop vectorized, the outer loops spread over the
threads.
"""

from __future__ import annotations

from tvm import s_tir, tirx

from deepxc.schedules import conv2d, dense, depthwise, generic

RULES = {
    conv2d.RULE: conv2d.schedule,
    depthwise.RULE: depthwise.schedule,
    dense.RULE: dense.schedule,
}


# Below this many loop iterations (multiply-adds for a convolution) a kernel runs on one
# thread: handing out the work would cost more than it saves.
PARALLEL_MIN_WORK = 1 << 16


def schedule_kernel(func: tirx.PrimFunc, threads: int, lanes: int) -> tirx.PrimFunc:
    sch = s_tir.Schedule(func)
    try:
        root = sch.get_sblock("root")
    except Exception:  # not a block-structured kernel: leave it as it is
        return func
    if _work(sch, root) < PARALLEL_MIN_WORK:
        threads = 1
    ruled = False
    for block in sch.get_child_blocks(root):
        rule = RULES.get(str(sch.get(block).annotations.get("deepxc_rule", "")))
        if rule is not None:
            rule(sch, block, threads)
            ruled = True
            break
    # a rule has placed its own stages (the padding, say): the generic rule keeps them
    generic.schedule(sch, threads, lanes, inline=not ruled)
    return sch.mod["main"]


def _work(sch: s_tir.Schedule, root: s_tir.SBlockRV) -> int:
    """Loop iterations of the kernel's top-level loop nests, reductions included."""
    total = 0
    for block in sch.get_child_blocks(root):
        count = 1
        for iter_var in sch.get(block).iter_vars:
            count *= int(iter_var.dom.extent)
        total += count
    return total
