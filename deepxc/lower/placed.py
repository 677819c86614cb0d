"""Lower a model whose layers are placed on several processors: each GPU partition to its
kernels (`lower_gpu`), and the rest, with one call per GPU partition in its place, to the
CPU's kernels (`lower_partition`). The CPU's call list is then the bundle's schedule:
CPU kernels and GPU partitions in the model's order, over buffers in the CPU's arena.

A GPU partition's call only starts it; a wait (`KernelCall.wait`) follows right before
the first later call that reads one of its outputs, or at the end: the CPU's kernels in
between run while the GPU works. The wait reads all of the partition's buffers, so the
arena plan keeps them apart from everything made meanwhile. A remote partition's call and
wait are placed the same way (one remote call in flight at a time)."""

from __future__ import annotations

import dataclasses

from deepxc.artifacts import GpuPartition, KernelCall, LoweredPartition, RemotePartition
from deepxc.ir import Graph
from deepxc.ir.placement import PARTITION_OP, Partition, collapse, gpu_refusal, partitions
from deepxc.lower.gpu import NothingToRun, lower_gpu
from deepxc.lower.partition import lower_partition
from deepxc.lower.relax_ops.partition import partition_symbol
from deepxc.lower.remote import lower_remote, splice_fallbacks
from deepxc.targets import Target


def settle_placement(graph: Graph, placement: dict[str, str], log=print) -> dict[str, str]:
    """`placement` with the layers the GPU cannot take moved to the CPU, each said."""
    settled = dict(placement)
    moved = []
    for layer, processor in placement.items():
        if processor == "gpu":
            reason = gpu_refusal(graph, layer)
            if reason:
                settled[layer] = "cpu"
                moved.append(f"{layer} ({graph.node(layer).op}: {reason})")
    if moved:
        log(f"place: {len(moved)} layers stay on the CPU: {'; '.join(moved)}")
    return settled


def lower_placed(
    graph: Graph,
    target: Target,
    placement: dict[str, str],
    workdir: str,
    threads: int = 1,
    log=print,
    level: int = 0,
    built: dict | None = None,
    symbol_prefix: str = "dx",
    first_partition: int = 0,
    model_name: str = "model",
) -> LoweredPartition:
    """`graph` lowered with its layers on the processors `placement` names. A remote
    partition's wait is followed by its local fallback: its layers lowered for this
    target's CPU (`lower_remote`), run when the server did not answer."""
    placement = dict(placement)
    while True:  # until every GPU partition has kernels to run
        try:
            host_graph, offloaded, remote = _lower_offloaded(
                graph,
                target,
                placement,
                first_partition,
                log,
                workdir,
                threads,
                built,
                symbol_prefix,
                model_name,
            )
            break
        except NothingToRun as empty:
            placement.update(dict.fromkeys(empty.layers, "cpu"))
            log(f"place: {', '.join(empty.layers)} stay on the CPU ({empty.reason} on the GPU)")
    lowered = lower_partition(
        host_graph,
        target,
        workdir,
        threads,
        log=log,
        level=level,
        built=built,
        symbol_prefix=symbol_prefix,
        offloaded=offloaded,
        remote={symbol: part for symbol, (part, _) in remote.items()},
    )
    outputs = {symbol: len(part.outputs) for symbol, part in offloaded.items()}
    outputs |= {symbol: len(part.outputs) for symbol, (part, _) in remote.items()}
    joined = set() if gpu_has_own_cores(target) else {"gpu"}
    calls = with_waits(lowered.calls, outputs, joined=joined, serial={"remote"})
    return splice_fallbacks(dataclasses.replace(lowered, calls=calls), remote)


def gpu_has_own_cores(target: Target) -> bool:
    """Whether the target's GPU computes beside its CPU: not when the target file puts it
    in the CPU's serial group (pocl runs OpenCL on the CPU's own cores, and work on both
    at once would only fight over them)."""
    groups = {p.name: p.group or p.name for p in target.processors}
    return groups.get("gpu", "gpu") != groups.get("cpu", "cpu")


def with_waits(
    calls: list[KernelCall],
    outputs: dict[str, int],
    joined: set[str] = frozenset(),
    serial: set[str] = frozenset(),
) -> list[KernelCall]:
    """`calls` with a wait for each call of a partition on another processor, right
    before the first later call reading one of its outputs (or last); on a processor in
    `joined` (one that shares the CPU's cores), right after the call; on one in `serial`
    (the remote: one connection), before its next call at the latest. `outputs`: how
    many of such a call's arguments (the last ones) are the partition's outputs."""
    scheduled: list[KernelCall] = []
    pending: list[tuple[KernelCall, set[str]]] = []  # started partitions, their outputs
    for call in calls:
        reads = set(call.args)
        for started, made in list(pending):
            busy = call.processor in serial and started.processor == call.processor
            if made & reads or busy:
                scheduled.append(_wait(started))
                pending.remove((started, made))
        scheduled.append(call)
        if call.kernel not in outputs:  # a CPU kernel
            continue
        if call.processor in joined:
            scheduled.append(_wait(call))
        else:
            pending.append((call, set(call.args[len(call.args) - outputs[call.kernel] :])))
    scheduled.extend(_wait(started) for started, _ in pending)
    return scheduled


def _wait(call: KernelCall) -> KernelCall:
    return dataclasses.replace(call, wait=True, args=list(call.args), layers=list(call.layers))


def _lower_offloaded(
    graph: Graph,
    target: Target,
    placement: dict[str, str],
    first: int,
    log,
    workdir: str,
    threads: int,
    built: dict | None,
    symbol_prefix: str,
    model_name: str,
) -> tuple[Graph, dict[str, GpuPartition], dict[str, tuple[RemotePartition, LoweredPartition]]]:
    """The host's graph with a call per partition on another processor; the GPU
    partitions lowered; the remote ones as ONNX with their local fallbacks."""
    runs: list[Partition] = partitions(graph, placement)
    host_graph, subgraphs = collapse(graph, runs, first=first)
    offloaded: dict[str, GpuPartition] = {}
    remote: dict[str, tuple[RemotePartition, LoweredPartition]] = {}
    for node in host_graph.nodes():
        if node.op != PARTITION_OP:
            continue
        index = node.attrs["index"]
        sub = subgraphs[index - first]
        if node.attrs["processor"] == "remote":
            log(f"lower: remote partition {index}: {len(sub.dag)} layers (and their fallback)")
            remote[partition_symbol(node)] = lower_remote(
                sub,
                target,
                index,
                f"{model_name}_p{index}",
                workdir,
                threads,
                built,
                symbol_prefix,
                log,
            )
            continue
        log(f"lower: GPU partition {index}: {len(sub.dag)} layers")
        part = lower_gpu(sub, target, prefix=f"p{index}_", log=log)
        offloaded[partition_symbol(node)] = _prefixed(part, f"p{index}.")
    return host_graph, offloaded, remote


def _prefixed(part: GpuPartition, prefix: str) -> GpuPartition:
    """`part` with every buffer name prefixed, so that its weights share the bundle's
    blob with the CPU's and other partitions' without a clash."""

    def rename(name: str) -> str:
        return prefix + name

    return dataclasses.replace(
        part,
        buffers={
            rename(n): dataclasses.replace(b, name=rename(n)) for n, b in part.buffers.items()
        },
        inputs=[rename(n) for n in part.inputs],
        outputs=[rename(n) for n in part.outputs],
        weights={rename(n): w for n, w in part.weights.items()},
        launches=[
            dataclasses.replace(
                launch,
                args=[dataclasses.replace(a, buffer=rename(a.buffer)) for a in launch.args],
            )
            for launch in part.launches
        ],
    )
