"""The GPU part of the render context: every GPU partition of every level, its device
buffers, launches and embedded source, numbered as the generated runtime indexes them."""

from __future__ import annotations

from dataclasses import dataclass

from deepxc.artifacts import GpuPartition, LoweredPartition
from deepxc.emit.memory_plan import MemoryPlan, place_buffers


@dataclass
class GpuBufferContext:
    index: int
    name: str
    nbytes: int  # allocated (at least 4: no device takes an empty buffer)
    weight_offset: int | None  # where its contents lie in the blob: uploaded at init
    # where the CPU side of a partition's input or output lies in the arena (the level's
    # layout): OpenCL wraps that memory itself (CL_MEM_USE_HOST_PTR), no copy where the
    # device shares it; None for device-only buffers
    arena_offset: int | None = None
    # a tensor between a partition's kernels: where it lies in the device arena (one
    # allocation, shared by the partitions, which run one at a time); None: its own
    device_offset: int | None = None


@dataclass
class GpuLaunchContext:
    index: int  # of the launch in the bundle: its kernel object (OpenCL) or function (CUDA)
    kernel: str
    args: list[int]  # buffer indices, in the kernel's parameter order
    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int]
    groups: tuple[int, int, int]
    dynamic_local_bytes: int
    comment: str
    layers: list[str]  # the IR layers it computes


@dataclass
class GpuPartitionContext:
    index: int  # its program (OpenCL) or module (CUDA)
    symbol: str  # the runtime's function the CPU schedule calls
    file: str  # the source's copy beside the bundle, for review and ptxas
    source: str  # C string literal lines of the source
    source_bytes: int
    inputs: list[tuple[int, int]]  # (buffer index, bytes), in call order
    outputs: list[tuple[int, int]]
    launches: list[GpuLaunchContext]
    layers: str
    level: int  # the runtime compression level whose schedule calls it
    # device memory of its own buffers (weights, inputs, outputs); the tensors between its
    # kernels lie in the shared device arena
    device_bytes: int
    profile_slot: int = 0  # a profiling build times its launches from this slot on


@dataclass
class GpuContext:
    api: str  # "opencl" | "cuda"
    build_options: str  # clBuildProgram's (OpenCL)
    partitions: list[GpuPartitionContext]
    buffers: list[GpuBufferContext]
    launches: int  # in all partitions
    arena_bytes: int = 0  # the device arena: the largest partition's planned tensors

    @property
    def arena_align(self) -> int:
        return DEVICE_ALIGN

    @property
    def max_args(self) -> int:
        return max((len(x.args) for p in self.partitions for x in p.launches), default=1) or 1


def gpu_partitions(levels: list[LoweredPartition]) -> dict[str, GpuPartition]:
    """Every level's GPU partitions by the function their calls name."""
    return {symbol: part for level in levels for symbol, part in level.offloaded.items()}


def _levels_of(levels: list[LoweredPartition]) -> dict[str, int]:
    return {symbol: level.level for level in levels for symbol in level.offloaded}


def gpu_context(
    levels: list[LoweredPartition], plans: list[MemoryPlan], weight_offsets: dict[str, int]
) -> GpuContext | None:
    """`plans`: each level's arena layout, where the partitions' inputs and outputs lie."""
    parts = gpu_partitions(levels)
    if not parts:
        return None
    apis = {part.api for part in parts.values()}
    if len(apis) != 1:
        raise ValueError(f"GPU partitions of several APIs: {sorted(apis)}")
    api = apis.pop()
    buffers: list[GpuBufferContext] = []
    partitions = []
    launch_index = 0
    extension = "ptx" if api == "cuda" else "cl"
    boundary = {}  # partition symbol -> arena offset of each call argument (None: not there)
    for level, plan in zip(levels, plans):
        for call in level.calls:
            if call.kernel in level.offloaded and not call.wait:
                boundary[call.kernel] = [plan.offsets.get(arg) for arg in call.args]
    arena_bytes = 0
    level_of = _levels_of(levels)
    for index, (symbol, part) in enumerate(parts.items()):
        at = dict(zip(part.inputs + part.outputs, boundary.get(symbol, [])))
        device_offsets, planned = plan_device_arena(part)
        arena_bytes = max(arena_bytes, planned)
        numbers = {}
        first_buffer = len(buffers)
        for name, buffer in part.buffers.items():
            numbers[name] = len(buffers)
            buffers.append(
                GpuBufferContext(
                    len(buffers),
                    name,
                    max(buffer.spec.nbytes, 4),
                    weight_offsets[name] if name in part.weights else None,
                    at.get(name),
                    device_offsets.get(name),
                )
            )
        launches = []
        for launch in part.launches:
            launches.append(
                GpuLaunchContext(
                    launch_index,
                    launch.kernel,
                    [numbers[arg.buffer] for arg in launch.args],
                    launch.global_size,
                    launch.local_size,
                    launch.groups,
                    launch.dynamic_local_bytes,
                    _c_comment(f"{', '.join(launch.layers)} ({launch.rule})"),
                    list(launch.layers),
                )
            )
            launch_index += 1
        partitions.append(
            GpuPartitionContext(
                index=index,
                symbol=symbol,
                file=f"kernels_gpu_p{index}.{extension}",
                source=c_string_lines(part.source),
                source_bytes=len(part.source.encode()),
                inputs=[(numbers[n], part.buffers[n].spec.nbytes) for n in part.inputs],
                outputs=[(numbers[n], part.buffers[n].spec.nbytes) for n in part.outputs],
                launches=launches,
                layers=_c_comment(", ".join(part.layers)),
                level=level_of[symbol],
                device_bytes=sum(
                    b.nbytes for b in buffers[first_buffer:] if b.device_offset is None
                ),
            )
        )
    versions = {part.opencl_c for part in parts.values()}
    options = f"-cl-std=CL{versions.pop()}" if api == "opencl" and len(versions) == 1 else ""
    return GpuContext(api, options, partitions, buffers, launch_index, arena_bytes)


# Offsets in the device arena are multiples of this: OpenCL places a sub-buffer only at a
# multiple of the device's CL_DEVICE_MEM_BASE_ADDR_ALIGN (128 to 4096 bytes on the devices
# we know of; the runtime checks), and CUDA's allocations are 256-byte aligned.
DEVICE_ALIGN = 4096


def plan_device_arena(part: GpuPartition) -> tuple[dict[str, int], int]:
    """Offsets in the device arena of the partition's tensors between its kernels (its
    intermediates and the scratch buffers inside a kernel call), from their lifetimes
    over its launches; and the bytes they span."""
    border = set(part.inputs) | set(part.outputs)
    lifetimes: dict[str, tuple[int, int]] = {}
    for step, launch in enumerate(part.launches):
        for arg in launch.args:
            buffer = part.buffers[arg.buffer]
            if arg.buffer in border or buffer.kind not in ("activation", "scratch"):
                continue
            first, last = lifetimes.get(arg.buffer, (step, step))
            lifetimes[arg.buffer] = (min(first, step), max(last, step))
    sizes = {name: part.buffers[name].spec.nbytes for name in lifetimes}
    return place_buffers(lifetimes, sizes, DEVICE_ALIGN)


def c_string_lines(text: str) -> str:
    """`text` as adjacent C string literals, one per line of it."""
    lines = []
    for line in text.splitlines(keepends=True):
        escaped = "".join(_escape(c) for c in line)
        lines.append(f'"{escaped}"')
    return "\n".join(lines) or '""'


def _escape(char: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == '"':
        return '\\"'
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "?":  # no trigraphs
        return "\\?"
    if 32 <= ord(char) < 127:
        return char
    return "".join(f"\\{b:03o}" for b in char.encode())


def _c_comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")
