"""The generic rule, for loop nests no other rule has tiled (elementwise chains, copies,
pooling, reductions, a rule's padding stage).

1. Every elementwise or injective block whose result only feeds the next blocks is
   inlined into them, so a fused chain (say, a batch norm's scale and shift, then ReLU)
   reads and writes memory once instead of once per op.
2. In each remaining all-spatial loop nest the innermost loop is split by the vector
   width and the inner part vectorized.
3. With threads, the leading spatial loops are fused, until there is work for several
   tasks per thread, and marked parallel. TVM turns the loop into a
   TVMBackendParallelLaunch call that the bundle's thread pool serves. Reductions stay
   inside one task, so results do not depend on the thread count.
"""

from __future__ import annotations

from tvm import s_tir, tirx

SPATIAL = 0  # IterVar.DataPar
TASKS_PER_THREAD = 4


def schedule(sch: s_tir.Schedule, threads: int, lanes: int, inline: bool = True) -> None:
    if inline:
        _inline_intermediates(sch)
    for block in sch.get_child_blocks(sch.get_sblock("root")):
        loops = sch.get_loops(block)
        iter_vars = sch.get(block).iter_vars
        if not loops or len(loops) != len(iter_vars) or _already_scheduled(sch, loops):
            continue
        spatial = all(int(iv.iter_type) == SPATIAL for iv in iter_vars)
        if spatial and int(sch.get(loops[-1]).extent) >= 2 * lanes:
            outer, inner = sch.split(loops[-1], [None, lanes])
            sch.vectorize(inner)
            loops = [*loops[:-1], outer]
        if threads > 1:
            _parallelize(sch, loops, iter_vars, threads)


def _inline_intermediates(sch: s_tir.Schedule) -> None:
    for block in sch.get_child_blocks(sch.get_sblock("root"))[:-1]:
        if all(int(iv.iter_type) == SPATIAL for iv in sch.get(block).iter_vars):
            try:
                sch.compute_inline(block)
            except s_tir.ScheduleError:  # a kernel output, or not inlinable: keep it
                pass


def _parallelize(sch: s_tir.Schedule, loops, iter_vars, threads: int) -> None:
    leading, extent = [], 1
    for loop, iter_var in zip(loops, iter_vars):
        if int(iter_var.iter_type) != SPATIAL or extent >= threads * TASKS_PER_THREAD:
            break
        leading.append(loop)
        extent *= int(sch.get(loop).extent)
    if extent < 2:
        return
    fused = sch.fuse(*leading) if len(leading) > 1 else leading[0]
    sch.parallel(fused)


def _already_scheduled(sch: s_tir.Schedule, loops) -> bool:
    return any(int(sch.get(loop).kind) != int(tirx.ForKind.SERIAL) for loop in loops)
