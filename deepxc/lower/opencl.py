"""Lower one IR partition for an OpenCL GPU: OpenCL C kernels and their launch table.

The IR -> Relax -> fused TIR path is the CPU's (`build_relax`, `run_passes`), with Relax's
own convolution and dense operators in place of deepxc's CPU computes; the kernels are
scheduled by `deepxc.schedules.gpu` and printed as OpenCL C by TVM. The result is plain
data (`OpenCLPartition`): the runtime builds the source once, uploads the weights once,
and enqueues the launches in order. Every kernel is checked against the limits of the
target's GPU (`[gpu]` in its target file).
"""

from __future__ import annotations

import tvm

from deepxc.artifacts import Buffer, OpenCLArg, OpenCLLaunch, OpenCLPartition
from deepxc.errors import LoweringError
from deepxc.ir import Graph, verify
from deepxc.ir.partition_graph import partition_graph
from deepxc.lower.gpu_limits import limit_problems
from deepxc.lower.kernel_calls import CallLister
from deepxc.lower.opencl_codegen import build_opencl
from deepxc.lower.relax_builder import build_relax
from deepxc.lower.relax_pipeline import run_passes
from deepxc.schedules.gpu import schedule_gpu_kernel
from deepxc.targets import GpuLimits, Target


def opencl_target(limits: GpuLimits) -> tvm.target.Target:
    """TVM's OpenCL target held to `limits`: dlight's Fallback rule reads the work-group
    size from it (the other rules have fixed configurations, checked after)."""
    return tvm.target.Target(
        {
            "kind": "opencl",
            "max_threads_per_block": limits.max_work_group_size,
            "max_num_threads": limits.max_work_group_size,
            "max_shared_memory_per_block": limits.local_memory_bytes,
        },
        host="llvm",
    )


def lower_opencl(
    graph: Graph, target: Target, layers: list[str] | None = None, log=print
) -> OpenCLPartition:
    """OpenCL C kernels and launches computing `graph` on `target`'s GPU; only the
    `layers` named (IR node names: a partition) if given, their inputs and outputs the
    tensors that cross the partition's border (see `partition_graph`)."""
    if target.gpu is None or target.gpu.api != "opencl":
        raise LoweringError(f'target {target.name} has no OpenCL GPU ([gpu] api = "opencl")')
    if layers is not None:
        graph = partition_graph(graph, layers)
        verify(graph, after="partition")
    program = build_relax(graph, target.core, own_kernels=False)
    module, layer_groups = run_passes(program.module, program.layer_names)
    lister = CallLister(program.inputs, program.weights, program.named_constants)
    outputs = lister.run(module["main"], layer_groups)
    tvm_target = opencl_target(target.gpu)
    funcs, rules = {}, {}
    for name in dict.fromkeys(call.kernel for call in lister.calls):
        funcs[name], rules[name] = schedule_gpu_kernel(module[name], tvm_target)
    source, kernel_launches = build_opencl(funcs, tvm_target)
    weights = {name: graph.constants[name] for name in program.weights}
    weights.update(lister.constants)
    buffers = dict(lister.buffers)
    for kernel, launches_of in kernel_launches.items():
        for launch in launches_of:
            for name, spec in launch.scratch.items():
                buffers[f"{kernel}.{name}"] = Buffer(f"{kernel}.{name}", spec, "scratch")
    roles = _roles(buffers, outputs)
    launches = []
    for call in lister.calls:
        by_param = dict(zip((p.name for p in funcs[call.kernel].params), call.args))
        for launch in kernel_launches[call.kernel]:
            args = [by_param.get(param, f"{call.kernel}.{param}") for param in launch.params]
            launches.append(
                OpenCLLaunch(
                    kernel=launch.kernel,
                    args=[OpenCLArg(a, roles[a], buffers[a].spec.nbytes) for a in args],
                    global_size=launch.global_size,
                    local_size=launch.local_size,
                    local_memory_bytes=launch.local_memory_bytes,
                    layers=call.layers,
                    rule=rules[call.kernel],
                )
            )
    partition = OpenCLPartition(
        source=source,
        opencl_c=target.gpu.opencl_c,
        launches=launches,
        buffers=buffers,
        inputs=list(program.inputs),
        outputs=outputs,
        output_tensors=list(program.outputs),
        weights=weights,
    )
    problems = limit_problems(partition, target.gpu)
    if problems:
        raise LoweringError(f"OpenCL kernels for {target.name}: {'; '.join(problems)}")
    log(f"lower: {len(launches)} OpenCL kernel launches for {target.name}'s GPU")
    return partition


def _roles(buffers: dict[str, Buffer], outputs: list[str]) -> dict[str, str]:
    roles = {}
    for name, buffer in buffers.items():
        if name in outputs:
            roles[name] = "output"
        elif buffer.kind == "activation":
            roles[name] = "intermediate"
        else:
            roles[name] = buffer.kind
    return roles
