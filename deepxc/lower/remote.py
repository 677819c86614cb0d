"""Lower a remote partition: the ONNX the server runs, and the same layers compiled for
the device's CPU as the local fallback, whose calls follow the wait for the partition's
answer in the host's call list (over the host's buffers) and run when the server gave
none.

The partition's call and its wait name its inputs and outputs, so the arena plan keeps
both alive from the call to the wait, apart from each other and from what the CPU makes
meanwhile: the server's answer lands in the outputs while the CPU works, and a response
cut off half-way may have written the outputs, never the inputs the fallback then
reads."""

from __future__ import annotations

import dataclasses

import onnx

from deepxc.artifacts import Buffer, LoweredPartition, RemotePartition, RemoteTensor
from deepxc.ir import Graph
from deepxc.ir.export import to_onnx
from deepxc.lower.partition import lower_partition
from deepxc.targets import Target


def lower_remote(
    sub: Graph,
    target: Target,
    index: int,
    model: str,
    workdir: str,
    threads: int,
    built: dict | None,
    symbol_prefix: str,
    log,
) -> tuple[RemotePartition, LoweredPartition]:
    """Partition `sub` (number `index`, served as `model`) for the server, and lowered
    for the device's CPU."""
    fallback = lower_partition(
        sub,
        target,
        workdir,
        threads,
        processor=f"r{index}",
        log=log,
        built=built,
        symbol_prefix=symbol_prefix,
    )
    inputs = [RemoteTensor(f"input{i}", t, sub.spec(t)) for i, t in enumerate(sub.inputs)]
    outputs = [RemoteTensor(f"output{i}", t, sub.spec(t)) for i, t in enumerate(sub.outputs)]
    part = RemotePartition(
        index=index,
        model=model,
        layers=[node.name for node in sub.nodes()],
        onnx=_wire_named(to_onnx(sub), inputs + outputs).SerializeToString(),
        inputs=inputs,
        outputs=outputs,
        fallback_object=fallback.object_path,
        fallback_kernels=fallback.kernels,
    )
    return part, fallback


def _wire_named(model: onnx.ModelProto, tensors: list[RemoteTensor]) -> onnx.ModelProto:
    """`model` with its inputs and outputs named as on the wire (input0, output0...)."""
    names = {t.tensor: t.name for t in tensors}
    graph = model.graph
    for value in [*graph.input, *graph.output]:
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    onnx.checker.check_model(model)
    return model


def splice_fallbacks(
    lowered: LoweredPartition, remote: dict[str, tuple[RemotePartition, LoweredPartition]]
) -> LoweredPartition:
    """`lowered` (the host's calls, with a call and a wait per remote partition) with each
    remote partition's fallback calls right after its wait, over the host's buffers for
    the partition's inputs and outputs and its own (prefixed `r<index>.`) for the rest."""
    if not remote:
        return lowered
    calls, buffers = [], dict(lowered.buffers)
    weights, reads = dict(lowered.weights), dict(lowered.weight_reads)
    workspace = lowered.workspace_bytes
    for call in lowered.calls:
        calls.append(call)
        if call.processor != "remote" or not call.wait:
            continue
        part, fallback = remote[call.kernel]
        ends = fallback.inputs + fallback.outputs
        if len(ends) != len(call.args):
            raise AssertionError(f"remote partition {part.index}: its call has {call.args}")
        names = dict(zip(ends, call.args))
        prefix = f"r{part.index}."
        for name, buffer in fallback.buffers.items():
            if name not in names:
                names[name] = prefix + name
                buffers[names[name]] = Buffer(names[name], buffer.spec, buffer.kind)
        weights.update({names[n]: w for n, w in fallback.weights.items()})
        reads.update({names[n]: r for n, r in fallback.weight_reads.items()})
        workspace = max(workspace, fallback.workspace_bytes)
        calls += [
            dataclasses.replace(
                c, args=[names[a] for a in c.args], layers=list(c.layers), fallback_of=call.kernel
            )
            for c in fallback.calls
        ]
    return dataclasses.replace(
        lowered,
        calls=calls,
        buffers=buffers,
        weights=weights,
        weight_reads=reads,
        workspace_bytes=workspace,
        remote={symbol: part for symbol, (part, _) in remote.items()},
    )
