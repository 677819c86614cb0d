"""The one typed object the templates render from; every decision is made here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepxc import __version__
from deepxc.artifacts import LoweredPartition
from deepxc.emit.gpu_context import GpuContext, gpu_context
from deepxc.emit.memory_plan import MemoryPlan
from deepxc.emit.remote_context import DEFAULT_TIMEOUT_MS, RemoteContext, remote_context
from deepxc.emit.symbols import DEFAULT_API
from deepxc.emit.weights import HEADER_BYTES, read_bytes
from deepxc.ir import TensorSpec

# DLPack type codes (kDLInt, kDLUInt, kDLFloat) by numpy kind
_DL_CODES = {"i": 0, "u": 1, "b": 1, "f": 2}


@dataclass
class TensorParam:
    ndim: int
    shape: str  # C initializer, "{1, 3, 224, 224}"
    dl_code: int
    dl_bits: int


@dataclass
class KernelContext:
    symbol: str
    packed_symbol: str
    params: list[TensorParam]


@dataclass
class CallContext:
    symbol: str
    args: list[str]  # C expressions of the buffer addresses
    comment: str
    profile_slot: int  # where the profiling build sums this call's time
    processor: str = "cpu"  # else a partition the runtime runs on that processor
    wait: bool = False  # the wait for that partition, which the call naming it starts
    remote: int = -1  # a remote partition's call: its index in the runtime's table
    fallback_of: int = -1  # a kernel of that partition's local fallback: the same index


@dataclass
class IOContext:
    index: int
    name: str
    ndim: int
    shape: str
    size: int  # elements
    nbytes: int
    address: str  # C expression where the tensor lives (arena, weights)


@dataclass
class LevelContext:
    """One runtime compression level: its own calls, arena layout and kernel scratch."""

    index: int
    calls: list[CallContext]
    inputs: list[IOContext]
    outputs: list[IOContext]
    workspace_offset: int
    workspace_per_thread: int
    macs: int
    weight_bytes: int  # of the blob's payload, what it reads
    description: str  # what the level is: its budget, cost and estimated accuracy
    profile_first: int  # the profile slot of its first call
    # its calls' slots, then (profiling build) one per launch of its GPU partitions
    profile_count: int = 0


@dataclass
class LayerRow:
    name: str
    op: str
    macs: int


@dataclass
class BundleContext:
    version: str
    model_name: str
    target: str
    arena_bytes: int
    weights_bytes: int
    weights_header_bytes: int
    weights_payload_bytes: int
    weights_checksum: int
    threads: int
    multithreaded: bool
    kernels: list[KernelContext]  # of every level
    levels: list[LevelContext]  # level 0 first
    inputs: list[IOContext]  # level 0's (every level has the same inputs and outputs)
    outputs: list[IOContext]
    layers: list[LayerRow]  # level 0's
    total_macs: int  # level 0's
    profile_slots: int  # kernel calls of all levels, and their GPU partitions' launches
    embed_weights: bool = False
    profile: bool = False  # time each kernel call (deepx_profile)
    code_bytes: int | None = 0  # measured after compiling, None if not; model.h shows it
    api: str = DEFAULT_API  # prefix of the C functions and types: deepx_init
    macro: str = DEFAULT_API.upper()  # prefix of the macros: DEEPX_ARENA_BYTES
    backend: dict[str, str] = field(default_factory=dict)  # TVM_BACKEND role -> C symbol
    library: str = "model"  # CMake targets: the library, the test driver, the driver's option
    driver: str = "model_main"
    driver_option: str = "MODEL_BUILD_DRIVER"
    gpu: GpuContext | None = None  # the GPU partitions, if any
    remote: RemoteContext | None = None  # the remote partitions, if any


def c_shape(spec: TensorSpec) -> str:
    return "{" + ", ".join(str(d) for d in spec.shape) + "}" if spec.shape else "{1}"


def tensor_param(spec: TensorSpec) -> TensorParam:
    dtype = np.dtype(spec.dtype)
    bits = 8 if dtype.kind == "b" else dtype.itemsize * 8
    return TensorParam(len(spec.shape), c_shape(spec), _DL_CODES[dtype.kind], bits)


def build_context(
    levels: list[LoweredPartition],
    plans: list[MemoryPlan],
    weight_offsets: dict[str, int],
    weights_blob_bytes: int,
    weights_checksum: int,
    model_name: str,
    target_name: str,
    model_outputs: list[str],
    summaries: list[dict],
    level_info: list[dict] | None = None,
    remote_url: str = "",
    remote_timeout_ms: int = DEFAULT_TIMEOUT_MS,
) -> BundleContext:
    """The context of a bundle of `levels` (level 0 first), each with its memory plan, its
    `deepxc.ir.stats.model_summary` and its manifest entries (`level_info`: the RLC plan)."""
    contexts = []
    first = 0
    remote = remote_context(levels, plans, remote_url, remote_timeout_ms)
    for partition, plan, summary, info in zip(
        levels, plans, summaries, level_info or [{}] * len(levels)
    ):
        macs = summary["totals"]["macs"]
        level = level_context(partition, plan, weight_offsets, model_outputs, macs, first, remote)
        level.description = _c_comment(level_description(level, info.get("rlc"), len(levels)))
        level.profile_count = len(partition.calls) + _launches(partition)
        contexts.append(level)
        first += level.profile_count
    kernels = [kernel for partition in levels for kernel in partition.kernels]
    kernels += [
        k for level in levels for part in level.remote.values() for k in part.fallback_kernels
    ]
    threads = levels[0].threads
    gpu = gpu_context(levels, plans, weight_offsets)
    if gpu:
        _number_launch_slots(gpu, contexts)
    return BundleContext(
        version=__version__,
        model_name=_c_comment(model_name),
        target=target_name,
        arena_bytes=max(plan.arena_bytes for plan in plans),
        weights_bytes=weights_blob_bytes,
        weights_header_bytes=HEADER_BYTES,
        weights_payload_bytes=weights_blob_bytes - HEADER_BYTES,
        weights_checksum=weights_checksum,
        threads=threads,
        multithreaded=threads > 1,
        kernels=[
            KernelContext(k.symbol, k.packed_symbol, [tensor_param(p) for p in k.params])
            for k in kernels
        ],
        levels=contexts,
        inputs=contexts[0].inputs,
        outputs=contexts[0].outputs,
        layers=[LayerRow(row["name"], row["op"], row["macs"]) for row in summaries[0]["layers"]],
        total_macs=summaries[0]["totals"]["macs"],
        profile_slots=first,
        gpu=gpu,
        remote=remote,
    )


def _launches(partition: LoweredPartition) -> int:
    return sum(len(part.launches) for part in partition.offloaded.values())


def _number_launch_slots(gpu: GpuContext, levels: list[LevelContext]) -> None:
    """Each GPU partition's first profile slot: a profiling build times each of its
    launches there, after its level's calls."""
    for level in levels:
        slot = level.profile_first + len(level.calls)
        for part in gpu.partitions:
            if part.level == level.index:
                part.profile_slot = slot
                slot += len(part.launches)


def level_context(
    partition: LoweredPartition,
    plan: MemoryPlan,
    weight_offsets: dict[str, int],
    model_outputs: list[str],
    macs: int,
    profile_first: int,
    remote: RemoteContext | None = None,
) -> LevelContext:
    """One level's calls and model inputs and outputs, with the C addresses of their
    buffers in this level's arena layout or in the shared weights blob."""

    def address(buffer: str) -> str:
        if buffer in plan.offsets:
            return f"(arena + {plan.offsets[buffer]})"
        return f"(void *)(weights + {weight_offsets[buffer]})"

    def describe(buffer: str) -> str:
        spec = partition.buffers[buffer].spec
        return f"{buffer}{list(spec.shape)}"

    calls = []
    for step, call in enumerate(partition.calls):
        layers = ", ".join(call.layers) if call.layers else "(no layer name)"
        comment = f"{layers}: {' '.join(describe(a) for a in call.args)}"
        if call.processor == "remote":
            comment = f"{_remote_note(call.wait)}. {comment}"
        elif call.processor != "cpu":
            comment = f"{_overlap_note(partition, step)}. {comment}"
        calls.append(
            CallContext(
                call.kernel,
                [address(a) for a in call.args],
                _c_comment(comment),
                profile_first + step,
                call.processor,
                call.wait,
                remote.table_index(call.kernel) if call.processor == "remote" else -1,
                remote.table_index(call.fallback_of) if call.fallback_of else -1,
            )
        )

    def io(index: int, name: str, buffer: str) -> IOContext:
        spec = partition.buffers[buffer].spec
        return IOContext(
            index, name, len(spec.shape), c_shape(spec), spec.size, spec.nbytes, address(buffer)
        )

    return LevelContext(
        index=partition.level,
        calls=calls,
        inputs=[io(i, n, n) for i, n in enumerate(partition.inputs)],
        outputs=[io(i, n, b) for i, (n, b) in enumerate(zip(model_outputs, partition.outputs))],
        workspace_offset=plan.workspace_offset,
        workspace_per_thread=plan.workspace_bytes // partition.threads,
        macs=macs,
        weight_bytes=read_bytes(partition.weights, partition.weight_reads),
        description="",
        profile_first=profile_first,
    )


def _remote_note(wait: bool) -> str:
    if wait:
        return (
            "Wait for the server's answer; without one (any fault), the fallback's calls "
            "that follow compute the partition here"
        )
    return "Send the partition to the server; the calls up to its wait run meanwhile"


def _overlap_note(partition: LoweredPartition, step: int) -> str:
    """Why the partition call or wait at `step` of the call list is where it is: a call
    starts the partition and names the step that waits for it; the wait says which call
    reads the partition's outputs (or that the run ends)."""
    calls = partition.calls
    call = calls[step]
    if not call.wait:
        wait = next(
            i
            for i in range(step + 1, len(calls))
            if calls[i].wait and calls[i].kernel == call.kernel
        )
        return (
            f"Starts the partition on the {call.processor} and returns; the calls up to "
            f"the wait at call {wait} run meanwhile"
        )
    made = set(call.args[len(call.args) - len(partition.offloaded[call.kernel].outputs) :])
    after = next((later for later in calls[step + 1 :] if not later.wait), None)
    if after is not None and made & set(after.args):
        reader = ", ".join(after.layers) or after.kernel
        tensors = ", ".join(sorted(made & set(after.args)))
        return (
            f"Wait for the partition on the {call.processor}: {reader} reads its output "
            f"{tensors} next; until here its buffers stay out of the arena plan's reuse"
        )
    return (
        f"Wait for the partition on the {call.processor} before the run returns; until "
        "here its buffers stay out of the arena plan's reuse"
    )


def level_description(level: LevelContext, rlc: dict | None, levels: int) -> str:
    """One line on what a level is, for model.h: its RLC budget, cost and estimated
    accuracy (`rlc`, the level's plan in the manifest), or its cost alone."""
    cost = f"{level.macs:,} MACs, reads {level.weight_bytes:,} weight bytes"
    if rlc is None:
        return f"the model as given (no compression): {cost}" if levels == 1 else cost
    estimates = [
        f"{k.replace('_', ' ')} {v:.2%}" for k, v in rlc.items() if k.startswith("estimated_")
    ]
    text = ", ".join([f"{rlc['budget']}: {cost}" if "budget" in rlc else cost, *estimates])
    return "; ".join([text, *(f"warning: {w}" for w in rlc.get("warnings", []))])


def _c_comment(text: str) -> str:
    return text.replace("*/", "* /").replace("\n", " ")
