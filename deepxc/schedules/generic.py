"""The generic rule: spread a loop nest's outer spatial loops over the target's cores.

For every top-level loop nest still in its original shape, the leading loops that run
over spatial (not reduction) axes are fused, until there is work for several tasks per
thread, and the fused loop is marked parallel. TVM turns it into a
TVMBackendParallelLaunch call that the bundle's thread pool serves. Reductions stay
inside one task, so results do not depend on the thread count. Loop nests a rule has
already tiled are left alone.
"""

from __future__ import annotations

from tvm import s_tir, tirx

SPATIAL = 0  # IterVar.DataPar
TASKS_PER_THREAD = 4


def parallelize(sch: s_tir.Schedule, threads: int) -> None:
    if threads <= 1:
        return
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        loops = sch.get_loops(block)
        iter_vars = sch.get(block).iter_vars
        if not loops or len(loops) != len(iter_vars) or _already_scheduled(sch, loops):
            continue
        leading, extent = [], 1
        for loop, iter_var in zip(loops, iter_vars):
            if int(iter_var.iter_type) != SPATIAL or extent >= threads * TASKS_PER_THREAD:
                break
            leading.append(loop)
            extent *= int(sch.get(loop).extent)
        if extent < 2:
            continue
        fused = sch.fuse(*leading) if len(leading) > 1 else leading[0]
        sch.parallel(fused)


def _already_scheduled(sch: s_tir.Schedule, loops) -> bool:
    return any(int(sch.get(loop).kind) != int(tirx.ForKind.SERIAL) for loop in loops)
