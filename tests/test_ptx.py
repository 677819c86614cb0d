"""PTX for the Tegra K1's GPU (sm_32), checked against what its driver loads and by NVIDIA's
assembler: CUDA 11.8's ptxas (PyPI nvidia-cuda-nvcc-cu11), the last to take a Kepler
(sm_35; none takes sm_32 any more, and sm_32 PTX assembles for sm_35).

There is no GPU here: the kernels' numbers are not run. ptxas is the reference for what
the PTX declares: its entry functions, their shared memory and registers.
"""

from __future__ import annotations

import dataclasses
import math
import re
import subprocess

import pytest
from gpu_models import K1, MODELS, PTXAS_ARCH, directive, graph, lowered
from support import quiet

from deepxc.errors import LoweringError, TargetError
from deepxc.lower.gpu import lower_gpu
from deepxc.targets import load_target


def entries(ptx: str) -> dict[str, list[str]]:
    """Each .entry's parameter types."""
    found = {}
    for name, params in re.findall(r"\.entry\s+([\w$]+)\s*\((.*?)\)", ptx, re.S):
        found[name] = re.findall(r"\.param\s+\.(\w+)", params)
    return found


def test_k1_gpu_facts_come_from_the_target_file():
    gpu = K1.gpu
    assert (gpu.arch, gpu.cores, gpu.ptx_isa, gpu.driver_cuda) == ("sm_32", 192, "4.1", "6.5")
    assert (gpu.address_bits, gpu.local_memory_bytes, gpu.max_work_group_size) == (
        32,
        48 << 10,
        1024,
    )
    assert load_target("host").gpu is None


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("model", MODELS)
def test_ptx_loads_on_the_k1_driver(model, bits):
    """sm_32, PTX ISA at most 4.1 (CUDA 6.5), the address size asked for, and every
    launched kernel an .entry whose parameters are the launch's pointers."""
    partition = lowered(model, bits)
    ptx = partition.source
    assert directive(ptx, "target") == "sm_32"
    major, minor = (int(part) for part in directive(ptx, "version").split("."))
    assert (major, minor) <= (4, 1)
    assert directive(ptx, "address_size") == str(bits)
    kernels = {launch.kernel for launch in partition.launches}
    assert set(entries(ptx)) == kernels
    functions = set(re.findall(r"\.func\s+(?:\([^)]*\)\s*)?([\w$]+)\s*\(", ptx))
    assert not functions & kernels
    pointer = f"u{bits}"
    for launch in partition.launches:
        assert entries(ptx)[launch.kernel] == [pointer] * len(launch.args), launch.kernel


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("model", MODELS)
def test_ptxas_assembles_every_kernel(model, bits, ptxas, tmp_path):
    """ptxas -arch=sm_35 -m32 (-m64) takes the PTX without a warning, compiles every
    launched kernel, and reports no more shared memory than the launch table says (which
    pads each allocation to 64 bytes); each block's registers fit the K1's register file."""
    partition = lowered(model, bits)
    path = tmp_path / "kernels.ptx"
    path.write_text(partition.source)
    result = subprocess.run(
        [ptxas, f"-arch={PTXAS_ARCH}", f"-m{bits}", "-v", str(path), "-o", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr.lower(), result.stderr
    usage = ptxas_usage(result.stderr)
    for launch in partition.launches:
        registers, shared = usage[launch.kernel]
        assert shared <= launch.local_memory_bytes < shared + 256, launch.kernel
        assert registers * math.prod(launch.local_size) <= K1.gpu.registers_per_block, launch.kernel


def ptxas_usage(log: str) -> dict[str, tuple[int, int]]:
    """Registers per thread and static shared bytes of each entry in ptxas -v's log."""
    usage = {}
    for name, body in re.findall(
        r"Compiling entry function '([\w$]+)'(.*?)(?=Compiling entry function|\Z)", log, re.S
    ):
        registers = re.search(r"Used (\d+) registers", body)
        shared = re.search(r"(\d+) bytes smem", body)
        usage[name] = (int(registers.group(1)), int(shared.group(1)) if shared else 0)
    return usage


def test_launches_follow_the_target_limits():
    """The schedules read the threads per block from [gpu]; every kernel is checked
    against the shared memory a block may have (dlight's Matmul rule stages fixed tiles
    whatever the target says), the error naming the kernel."""
    tiny = graph(MODELS[0])
    assert max(math.prod(launch.local_size) for launch in lowered(MODELS[0], 32).launches) == 1024
    fewer = dataclasses.replace(K1.gpu, max_work_group_size=256)
    launches = lower_gpu(tiny, K1, gpu=fewer, log=quiet).launches
    assert max(math.prod(launch.local_size) for launch in launches) == 256
    no_shared = dataclasses.replace(K1.gpu, local_memory_bytes=1024)
    with pytest.raises(LoweringError, match=r"kernel \w+_kernel uses \d+ bytes of local"):
        lower_gpu(tiny, K1, gpu=no_shared, log=quiet)


def test_ptx_isa_comes_from_the_target():
    gpu = dataclasses.replace(K1.gpu, ptx_isa="4.0")
    partition = lower_gpu(graph(MODELS[0]), K1, gpu=gpu, log=quiet)
    assert directive(partition.source, "version") == "4.0"


def test_a_target_without_gpu_is_refused():
    with pytest.raises(TargetError, match="host has no \\[gpu\\] section"):
        lower_gpu(graph(MODELS[0]), load_target("host"), log=quiet)
