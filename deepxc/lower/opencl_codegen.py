"""Scheduled GPU PrimFuncs -> OpenCL C source and, per PrimFunc, the kernels it launches.

TVM's OpenCL module holds source only (no launch metadata), so the launches are read
from the TIR that the same build lowers to: the host side calls `call_ffi_kernel(name,
data pointers..., extents...)` per kernel in order, with the launch tags (`blockIdx.x`,
`threadIdx.y`, ...) of the extents; the device kernel's parameters are its buffers
(`<buffer>_ptr`, in name order, not the PrimFunc's order) and it allocates its `__local`
arrays statically. OpenCL's local size is the `threadIdx` extents, the global size
`blockIdx` x `threadIdx`. A PrimFunc of several kernels (a reduction and its epilogue)
hands values between them in a global buffer of its own: a scratch buffer the runtime
allocates once like the others.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm import tirx

from deepxc.ir import TensorSpec
from deepxc.lower.opencl_intrinsics import register_opencl_intrinsics

AXES = "xyz"


@dataclass
class KernelLaunch:
    kernel: str
    params: list[str]  # buffer names of the PrimFunc, in the kernel's parameter order
    scratch: dict[str, TensorSpec]  # those of them that are the PrimFunc's own buffers
    global_size: tuple[int, int, int]
    local_size: tuple[int, int, int]
    local_memory_bytes: int


def build_opencl(
    funcs: dict[str, tirx.PrimFunc], target: tvm.target.Target
) -> tuple[str, dict[str, list[KernelLaunch]]]:
    """The OpenCL C source of `funcs` (by global symbol) and each one's launches."""
    register_opencl_intrinsics()
    module = tvm.IRModule({name: f.with_attr("global_symbol", name) for name, f in funcs.items()})
    with tvm.transform.PassContext(opt_level=3, config={"tirx.disable_assert": True}):
        runtime_module = tvm.tirx.build(module, target=target)
        launches = _launches(module, target)
    source = next(m for m in _walk(runtime_module) if m.kind == "opencl").inspect_source()
    return source, launches


def _walk(module):
    yield module
    for imported in module.imports:
        yield from _walk(imported)


def _launches(module: tvm.IRModule, target: tvm.target.Target) -> dict[str, list[KernelLaunch]]:
    pipeline, _, finalize_device = tvm.tirx.get_tir_pipeline("default")
    lowered = pipeline(tirx.transform.BindTarget(target)(module))
    # `tvm.tirx.build` is the function; its module (shadowed by it) holds the helper
    host, devices = sys.modules["tvm.tirx.build"].split_host_device_mods(lowered)
    kernels = {}
    for device in devices.values():
        for gv, func in finalize_device()(device).functions_items():
            kernels[gv.name_hint] = func
    names = {gv.name_hint for gv in module.get_global_vars()}
    launches = {}
    for host_func in host.functions.values():
        name = str(host_func.attrs["global_symbol"]).removeprefix("__tvm_ffi_")
        if name not in names:
            continue
        launches[name] = [_launch(call, kernels, module[name]) for call in _kernel_calls(host_func)]
    return launches


def _kernel_calls(func: tirx.PrimFunc) -> list[tvm.ir.Call]:
    calls = []

    def visit(node):
        if isinstance(node, tvm.ir.Call) and getattr(node.op, "name", "") == "tirx.call_ffi_kernel":
            calls.append(node)

    tvm_ffi.structural_walk(func.body, visit, order="pre")
    return calls


def _launch(call: tvm.ir.Call, kernels: dict, func: tirx.PrimFunc) -> KernelLaunch:
    name = str(call.args[0].value)
    kernel = kernels[name]
    params = [p.name.removesuffix("_ptr") for p in kernel.params]
    own = {p.name for p in func.params}
    scratch = _global_buffers(func, [p for p in params if p not in own])
    tags = list(call.attrs.launch_params)
    extents = dict(zip(tags, (int(e) for e in call.args[len(call.args) - len(tags) :])))
    local = tuple(extents.get(f"threadIdx.{a}", 1) for a in AXES)
    groups = tuple(extents.get(f"blockIdx.{a}", 1) for a in AXES)
    return KernelLaunch(
        kernel=name,
        params=params,
        scratch=scratch,
        global_size=tuple(g * t for g, t in zip(groups, local)),
        local_size=local,
        local_memory_bytes=_local_bytes(kernel),
    )


def _global_buffers(func: tirx.PrimFunc, names: list[str]) -> dict[str, TensorSpec]:
    """The shapes of the buffers `names` that `func` allocates in global memory."""
    found = {}

    def visit(node):
        if isinstance(node, tirx.Buffer) and node.name in names and node.scope() == "global":
            found[node.name] = TensorSpec(tuple(int(d) for d in node.shape), str(node.dtype))

    tvm_ffi.structural_walk(func, visit, order="pre")
    missing = [n for n in names if n not in found]
    if missing:
        raise ValueError(f"kernel parameters {missing} are neither arguments nor buffers")
    return found


def _local_bytes(kernel: tirx.PrimFunc) -> int:
    total = 0

    def visit(node):
        nonlocal total
        if isinstance(node, tirx.AllocBuffer) and node.buffer.scope() == "shared":
            ty = node.buffer.ty
            count = math.prod(int(d) for d in ty.shape)
            total += count * tvm.runtime.DataType(str(ty.dtype)).bits // 8

    tvm_ffi.structural_walk(kernel.body, visit, order="pre")
    return total
