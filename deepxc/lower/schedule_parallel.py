"""Spread each kernel's outer spatial loops over the target's cores.

For every top-level block of a kernel, the leading loops that run over spatial (not
reduction) axes are fused, until there is work for several tasks per thread, and the
fused loop is marked parallel. TVM turns it into a TVMBackendParallelLaunch call that
the bundle's thread pool serves. Reductions stay inside one task, so results do not
depend on the thread count.
"""

from __future__ import annotations

from tvm import s_tir, tirx

SPATIAL = 0  # IterVar.DataPar
TASKS_PER_THREAD = 4


def parallelize(func: tirx.PrimFunc, threads: int) -> tirx.PrimFunc:
    if threads <= 1:
        return func
    schedule = s_tir.Schedule(func)
    try:
        root = schedule.get_sblock("root")
    except Exception:  # a kernel without the usual root block: leave it serial
        return func
    for block in schedule.get_child_blocks(root):
        loops = schedule.get_loops(block)
        iter_vars = schedule.get(block).iter_vars
        if not loops or len(loops) != len(iter_vars):
            continue
        leading, extent = [], 1
        for loop, iter_var in zip(loops, iter_vars):
            if int(iter_var.iter_type) != SPATIAL or extent >= threads * TASKS_PER_THREAD:
                break
            leading.append(loop)
            extent *= int(schedule.get(loop).extent)
        if extent < 2:
            continue
        fused = schedule.fuse(*leading) if len(leading) > 1 else leading[0]
        schedule.parallel(fused)
    return schedule.mod["main"]
