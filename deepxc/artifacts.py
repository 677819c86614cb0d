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
    # "cpu": a kernel of the partition's object; else the processor of a partition the
    # runtime runs there (`kernel` then names the runtime's function for it)
    processor: str = "cpu"
    # the wait for that partition's work, which the call naming it only starts: it reads
    # all of the partition's buffers, so that the arena keeps them until then
    wait: bool = False
    # the remote partition call (its `kernel`) this call is the local fallback of: it runs
    # only when that call did not get the partition's outputs from the server
    fallback_of: str = ""


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
    # the partitions its calls hand to other processors, by the function the call names
    offloaded: dict[str, GpuPartition] = field(default_factory=dict)
    # the partitions its calls send to the remote server, by the function the call names;
    # each one's local fallback calls follow its call in `calls`
    remote: dict[str, RemotePartition] = field(default_factory=dict)


@dataclass
class RemoteTensor:
    name: str  # on the wire: input0, output0, ...
    tensor: str  # the IR tensor
    spec: TensorSpec


@dataclass
class RemotePartition:
    """A partition the device sends to a KServe v2 server (`model`, version 1), as ONNX
    for the server, and compiled for the device as the local fallback: its kernels in
    `fallback_object`, its calls spliced into the host's call list."""

    index: int
    model: str
    layers: list[str]
    onnx: bytes  # graph inputs input0..., outputs output0..., as `inputs`/`outputs`
    inputs: list[RemoteTensor]
    outputs: list[RemoteTensor]
    fallback_object: str | None  # None: every kernel it calls is compiled elsewhere
    fallback_kernels: list[Kernel] = field(default_factory=list)


@dataclass
class GpuArg:
    buffer: str  # a name in GpuPartition.buffers
    # "input" | "weight" | "intermediate" | "output" (of the partition), or "scratch": a
    # buffer between the kernels of one kernel call (a reduction and its epilogue)
    role: str
    nbytes: int


@dataclass
class GpuLaunch:
    """One kernel launch: OpenCL's clEnqueueNDRangeKernel(kernel, 3, global_size,
    local_size), CUDA's cuLaunchKernel with grid = global_size / local_size, block =
    local_size."""

    kernel: str  # its name in the partition's source (OpenCL C kernel, PTX .entry)
    args: list[GpuArg]  # in the kernel's parameter order (one device pointer each)
    global_size: tuple[int, int, int]  # work-items, a multiple of local_size per axis
    local_size: tuple[int, int, int]
    local_memory_bytes: int  # static __local / __shared__ arrays of the kernel, at most
    layers: list[str]  # IR node names this launch computes (with the launch's kernel call)
    rule: str  # the schedule rule that made the kernel (`deepxc.schedules.gpu.RULES`)
    dynamic_local_bytes: int = 0  # shared memory the launch itself must give (CUDA)

    @property
    def groups(self) -> tuple[int, int, int]:
        return tuple(g // t for g, t in zip(self.global_size, self.local_size))


@dataclass
class GpuPartition:
    """A partition lowered for a GPU: one source for all its kernels (OpenCL C, or PTX),
    and the launches in order. Buffers are device buffers of the given sizes, allocated
    once; weights stay numpy arrays, uploaded once."""

    api: str  # "opencl" | "cuda"
    source: str
    launches: list[GpuLaunch]
    buffers: dict[str, Buffer]
    inputs: list[str]  # its input IR tensors, in order (buffers of the same names)
    outputs: list[str]  # buffer names holding its outputs, in order
    output_tensors: list[str]  # the IR tensors those hold
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    opencl_c: str = ""  # opencl: the OpenCL C version to build under (-cl-std=CL1.1)
    arch: str = ""  # cuda: the PTX .target
    address_bits: int = 64  # cuda: the PTX's pointer size
    layers: list[str] = field(default_factory=list)  # the IR layers it computes
