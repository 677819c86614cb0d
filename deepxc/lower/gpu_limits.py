"""Whether a GPU partition's kernels fit its device's limits (`[gpu]` in the target file).

TVM's GPU rules do not all read the target's limits (dlight's Matmul and reduction rules
have fixed work-group shapes and local tiles), so each launch is checked after
scheduling; the source is checked for the types an embedded-profile device may lack.
"""

from __future__ import annotations

import math
import re

from deepxc.artifacts import GpuPartition
from deepxc.targets import Gpu

_DOUBLE = re.compile(r"\bdouble\d*\b|cl_khr_fp64")
_LONG = re.compile(r"\b(?:u?long\d*|int64_t|uint64_t)\b")


def limit_problems(partition: GpuPartition, limits: Gpu) -> list[str]:
    """One line per way the partition breaks `limits`; empty if it fits."""
    problems = []
    for launch in partition.launches:
        size = math.prod(launch.local_size)
        if size > limits.max_work_group_size:
            problems.append(
                f"kernel {launch.kernel} uses work-groups of {size} work-items "
                f"(the device allows {limits.max_work_group_size})"
            )
        local = launch.local_memory_bytes + launch.dynamic_local_bytes
        if local > limits.local_memory_bytes:
            problems.append(
                f"kernel {launch.kernel} uses {local} bytes of local "
                f"memory (the device has {limits.local_memory_bytes})"
            )
    if partition.api != "opencl":  # PTX: its types are the ISA's, checked by ptxas
        return problems
    if not limits.fp64 and _DOUBLE.search(partition.source):
        problems.append("the source uses double, which the device lacks")
    if not limits.int64 and _LONG.search(partition.source):
        problems.append("the source uses 64-bit integers (long), which the device lacks")
    return problems
