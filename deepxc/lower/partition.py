"""Lower one IR partition for one processor: Relax, fusion, TIR, object code."""

from __future__ import annotations

import os

from deepxc.artifacts import LoweredPartition
from deepxc.ir import Graph
from deepxc.lower.codegen import build_kernels
from deepxc.lower.kernel_calls import CallLister
from deepxc.lower.relax_builder import build_relax
from deepxc.lower.relax_pipeline import run_passes
from deepxc.targets import Target


def lower_partition(
    graph: Graph, target: Target, workdir: str, threads: int = 1, processor: str = "cpu", log=print
) -> LoweredPartition:
    program = build_relax(graph, target.core)
    log(f"lower: legalize and fuse {len(graph.dag)} layers")
    module, layer_groups = run_passes(program.module, program.layer_names)
    lister = CallLister(program.inputs, program.weights, program.named_constants)
    outputs = lister.run(module["main"], layer_groups)
    kernel_names = list(dict.fromkeys(call.kernel for call in lister.calls))
    log(
        f"lower: compile {len(kernel_names)} kernels for {target.name} "
        f"({len(lister.calls)} calls, {threads} thread{'s' if threads > 1 else ''})"
    )
    object_path = os.path.join(workdir, f"kernels_{processor}.o")
    prefix = f"dx_{processor}_"
    kernels, workspace = build_kernels(
        module, kernel_names, prefix, target.tvm, object_path, threads, target.core.lanes
    )
    for call in lister.calls:
        call.kernel = kernels[call.kernel].symbol
    weights = {name: graph.constants[name] for name in program.weights}
    weights.update(lister.constants)
    return LoweredPartition(
        processor=processor,
        object_path=object_path,
        kernels=list(kernels.values()),
        calls=lister.calls,
        buffers=lister.buffers,
        inputs=list(program.inputs),
        outputs=outputs,
        weights=weights,
        workspace_bytes=workspace,
        threads=threads,
    )
