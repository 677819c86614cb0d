"""Lower one IR partition for the target's GPU: its kernels' source (OpenCL C, or PTX)
and their launch table.

The IR -> Relax -> fused TIR path is the CPU's (`build_relax`, `run_passes`), with Relax's
own convolution and dense operators in place of deepxc's CPU computes (whose weights are
packed for a CPU's vector unit); the kernels are scheduled by `deepxc.schedules.gpu`,
printed by TVM's OpenCL code generator or compiled to PTX by `nvptx`, and every launch is
checked against the limits of the target's GPU (`[gpu]` in its target file). The result
is plain data (`GpuPartition`): the runtime builds or loads the source once, uploads the
weights once, and launches the kernels in order.
"""

from __future__ import annotations

import tvm

from deepxc.artifacts import Buffer, GpuArg, GpuLaunch, GpuPartition
from deepxc.errors import LoweringError, TargetError
from deepxc.ir import Graph, verify
from deepxc.ir.partition_graph import partition_graph
from deepxc.lower.gpu_launch import lower_device, read_launches
from deepxc.lower.gpu_limits import limit_problems
from deepxc.lower.kernel_calls import CallLister
from deepxc.lower.relax_builder import build_relax
from deepxc.lower.relax_pipeline import run_passes
from deepxc.schedules.gpu import schedule_gpu_kernel
from deepxc.targets import Gpu, Target


class NothingToRun(LoweringError):
    """A partition that computes nothing on the GPU: its layers only rename or pass tensors
    (Identity, a Reshape of an input) or fold away; it belongs with its neighbours."""

    def __init__(self, layers: list[str], reason: str):
        super().__init__(f"GPU partition of {', '.join(layers)}: {reason}")
        self.layers = layers
        self.reason = reason


def opencl_target(gpu: Gpu) -> tvm.target.Target:
    """TVM's OpenCL target held to the GPU's limits: dlight's Fallback rule reads the
    work-group size from it (the other rules have fixed configurations, checked after)."""
    return tvm.target.Target(
        {
            "kind": "opencl",
            "max_threads_per_block": gpu.max_work_group_size,
            "max_num_threads": gpu.max_work_group_size,
            "max_shared_memory_per_block": gpu.local_memory_bytes,
        },
        host="llvm",
    )


def lower_gpu(
    graph: Graph,
    target: Target,
    layers: list[str] | None = None,
    gpu: Gpu | None = None,
    prefix: str = "",
    log=print,
    emit_as: str | None = None,
) -> GpuPartition:
    """The kernels and launches computing `graph` on `gpu` (default: the target's [gpu]);
    only the `layers` named (IR node names: a partition) if given, their inputs and
    outputs the tensors that cross the partition's border (see `partition_graph`).
    `prefix` starts every kernel name, so several partitions' kernels can share a
    program. `emit_as` ("opencl") prints kernels scheduled for a CUDA GPU as OpenCL C
    instead of PTX: the very schedules and launches, runnable where no CUDA device is."""
    gpu = gpu or target.gpu
    if gpu is None:
        raise TargetError(f"target {target.name} has no [gpu] section: no GPU to lower for")
    if layers is not None:
        graph = partition_graph(graph, layers)
        verify(graph, after="partition")
    program = build_relax(graph, target.core, own_kernels=False)
    module, layer_groups = run_passes(program.module, program.layer_names)
    lister = CallLister(program.inputs, program.weights, program.named_constants)
    outputs = lister.run(module["main"], layer_groups)
    passed = [name for name in outputs if lister.buffers[name].kind != "activation"]
    if not lister.calls or passed:
        raise NothingToRun(
            [node.name for node in graph.nodes()],
            "no kernel to run" if not lister.calls else f"it passes '{passed[0]}' through",
        )
    api = emit_as or gpu.api
    if gpu.api == "cuda":
        from deepxc.lower.nvptx import emit_ptx, lower_to_device, nvptx_target

        schedule_target = nvptx_target(gpu)
    else:
        schedule_target = opencl_target(gpu)
    if api == "cuda":
        tvm_target, lower = schedule_target, lower_to_device
    else:
        tvm_target, lower = opencl_target(gpu), lower_device
    funcs, rules = {}, {}
    for name in dict.fromkeys(call.kernel for call in lister.calls):
        func, rules[name] = schedule_gpu_kernel(module[name], schedule_target)
        funcs[name] = func.with_attr("global_symbol", prefix + name)
    scheduled = tvm.IRModule({prefix + name: func for name, func in funcs.items()})
    host, device, device_target = lower(scheduled, tvm_target)
    kernel_launches = read_launches(scheduled, host, device)
    if api == "cuda":
        source = emit_ptx(device, device_target, gpu)
    else:
        from deepxc.lower.opencl_codegen import opencl_source

        source = opencl_source(scheduled, tvm_target)
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
        kernel = prefix + call.kernel
        for launch in kernel_launches[kernel]:
            args = [
                call.args[param] if isinstance(param, int) else f"{kernel}.{param}"
                for param in launch.params
            ]
            launches.append(
                GpuLaunch(
                    kernel=launch.kernel,
                    args=[GpuArg(a, roles[a], buffers[a].spec.nbytes) for a in args],
                    global_size=launch.global_size,
                    local_size=launch.local_size,
                    local_memory_bytes=launch.local_memory_bytes,
                    layers=call.layers,
                    rule=rules[call.kernel],
                    dynamic_local_bytes=launch.dynamic_local_bytes,
                )
            )
    partition = GpuPartition(
        api=api,
        source=source,
        launches=launches,
        buffers=buffers,
        inputs=list(program.inputs),
        outputs=outputs,
        output_tensors=list(program.outputs),
        weights=weights,
        opencl_c=gpu.opencl_c if api == "opencl" else "",
        arch=gpu.arch,
        address_bits=gpu.address_bits,
        layers=[node.name for node in graph.nodes()],
    )
    problems = limit_problems(partition, gpu)
    if problems:
        raise LoweringError(f"GPU kernels for {target.name}: {'; '.join(problems)}")
    log(f"lower: {len(launches)} GPU kernel launches ({api}) for {target.name}")
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
