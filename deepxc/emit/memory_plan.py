"""Static arena layout from buffer lifetimes.

Each arena buffer lives from the step that writes it to the last step that reads it
(model inputs are written before step 0, model outputs are read after the last step).
Buffers are placed largest first at the lowest 64-byte aligned offset that does not
overlap a buffer whose lifetime intersects; the kernels' scratch space follows.
This is the classic greedy-by-size heuristic: simple and close to optimal for CNNs, which
no general-purpose library provides in a form we could use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deepxc.artifacts import LoweredPartition

ALIGN = 64


def align(value: int) -> int:
    return (value + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class MemoryPlan:
    offsets: dict[str, int]  # arena buffer name -> byte offset
    workspace_offset: int
    workspace_bytes: int
    arena_bytes: int
    lifetimes: dict[str, tuple[int, int]] = field(default_factory=dict)  # first, last step
    sizes: dict[str, int] = field(default_factory=dict)  # arena buffer name -> bytes


def place_buffers(
    lifetimes: dict[str, tuple[int, int]], sizes: dict[str, int], alignment: int = ALIGN
) -> tuple[dict[str, int], int]:
    """Offsets for buffers of the given sizes and lifetimes (first, last step), greedy by
    size, each at a multiple of `alignment`; and the bytes they span."""

    def up(value: int) -> int:
        return (value + alignment - 1) // alignment * alignment

    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[str, int] = {}
    for name in sorted(lifetimes, key=lambda n: (-sizes[n], n)):
        size = up(sizes[name])
        first, last = lifetimes[name]
        clashes = sorted(
            (start, end) for start, end, born, dies in placed if born <= last and first <= dies
        )
        offset = 0
        for start, end in clashes:
            if offset + size <= start:
                break
            offset = max(offset, up(end))
        placed.append((offset, offset + size, first, last))
        offsets[name] = offset
    return offsets, max((end for _, end, _, _ in placed), default=0)


def plan_memory(partition: LoweredPartition) -> MemoryPlan:
    lifetimes = _lifetimes(partition)
    sizes = {name: partition.buffers[name].spec.nbytes for name in lifetimes}
    offsets, planned = place_buffers(lifetimes, sizes)
    workspace = align(partition.workspace_bytes) * partition.threads  # a stack per thread
    total = align(planned) + workspace
    return MemoryPlan(offsets, align(planned), workspace, total, lifetimes, sizes)


def plan_record(plan: MemoryPlan) -> dict:
    """The plan as manifest data: each arena buffer's offset, size and lifetime (the
    kernel call steps from `first` to `last`; -1 is before the first call, and the number
    of calls is after the last), then the kernels' scratch space."""
    buffers = [
        {
            "tensor": name,
            "offset": plan.offsets[name],
            "bytes": plan.sizes[name],
            "first": plan.lifetimes[name][0],
            "last": plan.lifetimes[name][1],
        }
        for name in sorted(plan.offsets, key=lambda n: (plan.offsets[n], n))
    ]
    workspace = {"offset": plan.workspace_offset, "bytes": plan.workspace_bytes}
    return {"buffers": buffers, "workspace": workspace}


def _lifetimes(partition: LoweredPartition) -> dict[str, tuple[int, int]]:
    arena = {n for n, b in partition.buffers.items() if b.kind in ("input", "activation")}
    end = len(partition.calls)
    lifetimes = {name: (-1, -1) for name in partition.inputs if name in arena}
    for step, call in enumerate(partition.calls):
        for name in call.args:
            if name not in arena:
                continue
            first, last = lifetimes.get(name, (step, step))
            lifetimes[name] = (min(first, step), max(last, step))
    for name in partition.outputs:
        if name in arena:
            first, _ = lifetimes.get(name, (end, end))
            lifetimes[name] = (first, end)
    return lifetimes
