"""Plain data handed from `lower` to `emit`: no TVM objects, so emit stays TVM-free."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepxc.ir import TensorSpec


@dataclass
class Buffer:
    name: str
    spec: TensorSpec
    kind: str  # "input" | "weight" | "activation" | "scratch" (GPU: inside one call)


@dataclass
class Kernel:
    symbol: str  # the plain C function the runtime calls
    packed_symbol: str  # the symbol in the kernel object
    params: list[TensorSpec]  # inputs then outputs, as the kernel reads them


@dataclass
class KernelCall:
    kernel: str  # Kernel.symbol
    args: list[str]  # buffer names, inputs then outputs
    layers: list[str]  # IR node names this call computes
    macs: int = 0


@dataclass
class LoweredPartition:
    processor: str
    object_path: str | None  # None: every kernel it calls is an earlier level's
    kernels: list[Kernel]  # compiled into object_path
    calls: list[KernelCall]
    buffers: dict[str, Buffer]
    inputs: list[str]  # buffer names of the model inputs, in order
    outputs: list[str]  # buffer names holding the model outputs, in order
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    # weight -> the bytes of it the kernels read, where that is less than all of it (a
    # level's leading slices of a factor stored for several levels)
    weight_reads: dict[str, int] = field(default_factory=dict)
    workspace_bytes: int = 0
    threads: int = 1  # kernels split their outer loops over this many threads
    level: int = 0  # the runtime compression level this partition computes (0: uncompressed)


@dataclass
class OpenCLArg:
    buffer: str  # a name in OpenCLPartition.buffers
    # "input" | "weight" | "intermediate" | "output" (of the partition), or "scratch": a
    # buffer between the kernels of one kernel call (a reduction and its epilogue)
    role: str
    nbytes: int


@dataclass
class OpenCLLaunch:
    """One kernel enqueued: clEnqueueNDRangeKernel(kernel, 3, global_size, local_size)."""

    kernel: str  # its name in the OpenCL source
    args: list[OpenCLArg]  # in the kernel's parameter order (all __global float* etc.)
    global_size: tuple[int, int, int]  # work-items, a multiple of local_size per axis
    local_size: tuple[int, int, int]
    local_memory_bytes: int  # static __local arrays of the kernel
    layers: list[str]  # IR node names this launch computes (with the launch's kernel call)
    rule: str  # the schedule rule that made the kernel (`deepxc.schedules.gpu.RULES`)


@dataclass
class OpenCLPartition:
    """A partition lowered for an OpenCL GPU: one source for all kernels, and the launches
    in order. Buffers are device buffers of the given sizes; weights stay numpy arrays, to
    be uploaded once."""

    source: str
    opencl_c: str  # the OpenCL C version to build under (`-cl-std=CL<version>`)
    launches: list[OpenCLLaunch]
    buffers: dict[str, Buffer]
    inputs: list[str]  # its input IR tensors, in order (buffers of the same names)
    outputs: list[str]  # buffer names holding its outputs, in order
    output_tensors: list[str]  # the IR tensors those hold
    weights: dict[str, np.ndarray] = field(default_factory=dict)
