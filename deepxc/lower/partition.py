"""Lower one IR partition for one processor: Relax, fusion, TIR, object code."""

from __future__ import annotations

import dataclasses
import os

from deepxc.artifacts import LoweredPartition
from deepxc.ir import Graph
from deepxc.lower.codegen import build_kernels
from deepxc.lower.kernel_calls import CallLister
from deepxc.lower.relax_builder import build_relax
from deepxc.lower.relax_pipeline import run_passes
from deepxc.lower.shape_check import check_calls
from deepxc.targets import Target


def lower_partition(
    graph: Graph,
    target: Target,
    workdir: str,
    threads: int = 1,
    processor: str = "cpu",
    log=print,
    level: int = 0,
    built: dict | None = None,
    symbol_prefix: str = "dx",
    offloaded: dict | None = None,
    remote: dict | None = None,
) -> LoweredPartition:
    """Lower `graph` to kernels in one object file and the list of their calls.

    `level` > 0 lowers one runtime compression level of a multi-level bundle: its kernels
    get their own symbols (`dx_cpu_l1_...`) and object file (`kernels_cpu_l1.o`), so every
    level links into one program. Level 0 keeps the names of a single-level bundle.
    `built` (shared by the levels' calls) lets a level call the earlier levels' kernels
    where its own would be the same code, instead of compiling them again.
    `symbol_prefix` starts every kernel symbol (a bundle's --name), so that bundles built
    under different names link into one program. `offloaded`: the partitions on other
    processors that `graph` calls (`deepxc.ir.placement.collapse`), by the function its
    calls name (`GpuPartition`); `remote`: those sent to a server (`RemotePartition`)."""
    offloaded = offloaded or {}
    remote = remote or {}
    program = build_relax(graph, target.core)
    log(
        f"lower: legalize and fuse {len(graph.dag)} layers" + (f" (level {level})" if level else "")
    )
    module, layer_groups = run_passes(program.module, program.layer_names)
    lister = CallLister(
        program.inputs,
        program.weights,
        program.named_constants,
        {symbol: ("gpu", part.layers) for symbol, part in offloaded.items()}
        | {symbol: ("remote", part.layers) for symbol, part in remote.items()},
    )
    outputs = lister.run(module["main"], layer_groups)
    cpu_calls = [call for call in lister.calls if call.processor == "cpu"]
    kernel_names = list(dict.fromkeys(call.kernel for call in cpu_calls))
    suffix = f"_l{level}" if level else ""
    object_path = os.path.join(workdir, f"kernels_{processor}{suffix}.o")
    prefix = f"{symbol_prefix}_{processor}{suffix}_"
    kernels, workspace, new = build_kernels(
        module, kernel_names, prefix, target.tvm, object_path, threads, target.core.lanes, built
    )
    check_calls(cpu_calls, lister.buffers, kernels)
    shared = len(kernel_names) - len(new)
    log(
        f"lower: compiled {len(new)} kernels for {target.name} "
        f"({len(lister.calls)} calls, {threads} thread{'s' if threads > 1 else ''}"
        + (f"; {shared} kernels shared with earlier levels)" if shared else ")")
    )
    for call in cpu_calls:
        call.kernel = kernels[call.kernel].symbol
    weights = {name: graph.constants[name] for name in program.weights}
    weights.update(lister.constants)
    partition = LoweredPartition(
        processor=processor,
        object_path=object_path if new else None,
        kernels=new,
        calls=lister.calls,
        buffers=lister.buffers,
        inputs=list(program.inputs),
        outputs=outputs,
        weights=weights,
        weight_reads={
            name: read for name, (stored, read) in program.layout_bytes.items() if read < stored
        },
        workspace_bytes=workspace,
        threads=threads,
        level=level,
        offloaded=dict(offloaded),
        remote=dict(remote),
    )
    if level:
        named = {name for _, name in program.named_constants}
        unnamed = [name for name in lister.constants if name not in named]
        _rename_buffers(partition, {name: f"l{level}_{name}" for name in unnamed})
    return partition


def _rename_buffers(partition: LoweredPartition, renames: dict[str, str]) -> None:
    """Rename buffers everywhere in `partition`, in place.

    Levels share weights in the blob by name. Constants that Relax made without a name
    (index arrays, ...) are numbered in order of use, so the same number in two levels may
    be two different arrays: a level > 0 gets its own names for them."""

    def rename(name: str) -> str:
        return renames.get(name, name)

    partition.buffers = {
        rename(name): dataclasses.replace(buffer, name=rename(name))
        for name, buffer in partition.buffers.items()
    }
    partition.weights = {rename(name): value for name, value in partition.weights.items()}
    partition.outputs = [rename(name) for name in partition.outputs]
    for call in partition.calls:
        call.args = [rename(name) for name in call.args]
