"""The arena plan never lets two live buffers overlap, and reuses memory when it can."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from deepxc.artifacts import Buffer, KernelCall, LoweredPartition
from deepxc.emit.memory_plan import ALIGN, _lifetimes, plan_memory
from deepxc.ir import TensorSpec


def chain_partition(sizes: list[int], branches: int = 0, seed: int = 0) -> LoweredPartition:
    """A random DAG of calls: each reads one or two earlier buffers and writes one."""
    rng = np.random.default_rng(seed)
    buffers = {"in": Buffer("in", TensorSpec((sizes[0],), "float32"), "input")}
    calls = []
    names = ["in"]
    for index, size in enumerate(sizes[1:]):
        name = f"t{index}"
        buffers[name] = Buffer(name, TensorSpec((size,), "float32"), "activation")
        reads = [names[-1]]
        if branches and len(names) > 2 and rng.random() < 0.5:
            reads.append(names[rng.integers(0, len(names) - 1)])
        calls.append(KernelCall("k", reads + [name], []))
        names.append(name)
    return LoweredPartition("cpu", "", [], calls, buffers, ["in"], [names[-1]])


@pytest.mark.parametrize("seed", range(20))
def test_live_buffers_never_overlap(seed):
    rng = np.random.default_rng(seed)
    sizes = list(rng.integers(1, 5000, size=int(rng.integers(2, 30))))
    partition = chain_partition(sizes, branches=1, seed=seed)
    plan = plan_memory(partition)
    lifetimes = _lifetimes(partition)
    for a, b in itertools.combinations(lifetimes, 2):
        (fa, la), (fb, lb) = lifetimes[a], lifetimes[b]
        if fa <= lb and fb <= la:  # alive at the same time
            start_a, start_b = plan.offsets[a], plan.offsets[b]
            end_a = start_a + partition.buffers[a].spec.nbytes
            end_b = start_b + partition.buffers[b].spec.nbytes
            assert end_a <= start_b or end_b <= start_a, (a, b)
    assert all(offset % ALIGN == 0 for offset in plan.offsets.values())
    assert plan.workspace_offset >= max(
        plan.offsets[n] + partition.buffers[n].spec.nbytes for n in plan.offsets
    )


def test_chain_reuses_memory():
    # a straight chain of equal buffers needs only two of them at a time
    partition = chain_partition([1024] * 10)
    plan = plan_memory(partition)
    assert plan.arena_bytes == 2 * 1024 * 4
